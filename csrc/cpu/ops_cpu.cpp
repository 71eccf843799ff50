// CPU implementations of the dann ops: validate, allocate, call the kernel of the active SIMD tier.
#include <ATen/core/Tensor.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/EmptyTensor.h>
#include <torch/library.h>

#include "../checks.h"
#include "kernels.h"

namespace dann {
namespace {

#define DANN_DISPATCH_FLOATS(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, TYPE, NAME, __VA_ARGS__)

at::ScalarType compute_dtype(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

// λ lives on the CPU for a CPU op (checks.h rejects any other device), so it is read straight from
// memory: item() would cost a dispatcher round trip, a visible share of a small batch's op.
double neg_lambda(const at::Tensor& lambd) {
  double value = 0;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, lambd.scalar_type(), "lambd",
                                  [&] { value = static_cast<double>(*lambd.const_data_ptr<scalar_t>()); });
  return -value;
}

double grad_scale(int reduction, int64_t n) { return reduction == 1 ? 1.0 / static_cast<double>(n) : 1.0; }

// Outputs are allocated straight from the CPU allocator: at::empty_like and at::scalar_tensor would
// each go through the dispatcher (and fill_), a visible share of a training batch's loss call.
at::Tensor new_cpu(at::IntArrayRef sizes, at::ScalarType dtype) { return at::detail::empty_cpu(sizes, dtype); }

template <typename T>
at::Tensor scalar_cpu(T value, at::ScalarType dtype) {
  at::Tensor out = new_cpu({}, dtype);
  AT_DISPATCH_ALL_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "scalar_cpu",
                             [&] { *out.mutable_data_ptr<scalar_t>() = static_cast<scalar_t>(value); });
  return out;
}

at::Tensor reduced_loss(const cpu::LossSums& sums, int reduction, int64_t n, const at::Tensor& logits) {
  const double value = reduction == 1 ? sums.loss_sum / static_cast<double>(n) : sums.loss_sum;
  return scalar_cpu(value, logits.scalar_type());
}

at::Tensor grl_backward_cpu(const at::Tensor& grad, const at::Tensor& lambd) {
  check_grl_backward(grad, lambd);
  const auto g = grad.contiguous();
  auto out = new_cpu(g.sizes(), g.scalar_type());
  const double factor = neg_lambda(lambd);
  DANN_DISPATCH_FLOATS(g.scalar_type(), "grl_backward", [&] {
    DANN_CPU_CALL(scalar_t, grl_backward, g.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), g.numel(),
                  factor);
  });
  return out;
}

at::Tensor split_reverse_backward_cpu(const std::optional<at::Tensor>& grad_label, const at::Tensor& grad_domain,
                                      int64_t n_label_rows, const at::Tensor& lambd) {
  check_split_reverse_backward(grad_label, grad_domain, n_label_rows, lambd);
  const auto gd = grad_domain.contiguous();
  at::Tensor gl;
  if (grad_label.has_value()) gl = grad_label->to(gd.scalar_type()).contiguous();
  auto out = new_cpu(gd.sizes(), gd.scalar_type());
  const int64_t row_size = gd.size(0) ? gd.numel() / gd.size(0) : 0;
  const double factor = neg_lambda(lambd);
  DANN_DISPATCH_FLOATS(gd.scalar_type(), "split_reverse_backward", [&] {
    DANN_CPU_CALL(scalar_t, split_reverse_backward, gl.defined() ? gl.const_data_ptr<scalar_t>() : nullptr,
                  gd.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), gd.numel(),
                  n_label_rows * row_size, factor);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> domain_bce_cpu(const at::Tensor& logits,
                                                              const std::optional<at::Tensor>& labels,
                                                              int64_t n_source, const std::optional<at::Tensor>& weight,
                                                              c10::string_view reduction) {
  check_domain_bce(logits, labels, n_source, weight, reduction);
  const int red = reduction_code(reduction);
  const auto z = logits.contiguous();
  const int64_t n = z.size(0);
  const auto ct = compute_dtype(z.scalar_type());
  at::Tensor y, w;
  if (labels.has_value()) y = labels->reshape({n}).to(ct).contiguous();
  if (weight.has_value()) w = weight->to(ct).contiguous();
  auto grad = new_cpu(z.sizes(), z.scalar_type());
  at::Tensor loss_rows = red == 0 ? new_cpu({n}, z.scalar_type()) : at::Tensor();
  cpu::LossSums sums;
  DANN_DISPATCH_FLOATS(z.scalar_type(), "domain_bce", [&] {
    using C = cpu::compute_t<scalar_t>;
    cpu::BceArgs<scalar_t> args{z.const_data_ptr<scalar_t>(),
                                y.defined() ? y.const_data_ptr<C>() : nullptr,
                                w.defined() ? w.const_data_ptr<C>() : nullptr,
                                loss_rows.defined() ? loss_rows.mutable_data_ptr<scalar_t>() : nullptr,
                                grad.mutable_data_ptr<scalar_t>(),
                                n,
                                n_source,
                                grad_scale(red, n)};
    sums = DANN_CPU_CALL(scalar_t, domain_bce, args);
  });
  TORCH_CHECK_VALUE(!sums.bad_label, kBinaryLabelsMsg);
  at::Tensor loss = red == 0 ? loss_rows : reduced_loss(sums, red, n, z);
  return {loss, grad, scalar_cpu(sums.n_correct, at::kLong)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> domain_ce_cpu(const at::Tensor& logits, const at::Tensor& labels,
                                                             const std::optional<at::Tensor>& weight,
                                                             c10::string_view reduction) {
  check_domain_ce(logits, labels, weight, reduction);
  const int red = reduction_code(reduction);
  const auto z = logits.contiguous();
  const int64_t n = z.size(0), k = z.size(1);
  const auto y = labels.to(at::kLong).contiguous();
  at::Tensor w;
  if (weight.has_value()) w = weight->to(compute_dtype(z.scalar_type())).contiguous();
  auto grad = new_cpu(z.sizes(), z.scalar_type());
  at::Tensor loss_rows = red == 0 ? new_cpu({n}, z.scalar_type()) : at::Tensor();
  cpu::LossSums sums;
  DANN_DISPATCH_FLOATS(z.scalar_type(), "domain_ce", [&] {
    using C = cpu::compute_t<scalar_t>;
    cpu::CeArgs<scalar_t> args{z.const_data_ptr<scalar_t>(),
                               y.const_data_ptr<int64_t>(),
                               w.defined() ? w.const_data_ptr<C>() : nullptr,
                               loss_rows.defined() ? loss_rows.mutable_data_ptr<scalar_t>() : nullptr,
                               grad.mutable_data_ptr<scalar_t>(),
                               n,
                               k,
                               grad_scale(red, n)};
    sums = DANN_CPU_CALL(scalar_t, domain_ce, args);
  });
  TORCH_CHECK_VALUE(!sums.bad_label, class_labels_msg(k));
  at::Tensor loss = red == 0 ? loss_rows : reduced_loss(sums, red, n, z);
  return {loss, grad, scalar_cpu(sums.n_correct, at::kLong)};
}

// The reversal rides on the GEMM: grad_x = (−λ)·(g @ W) is one addmm with alpha = −λ and beta = 0.
std::tuple<at::Tensor, at::Tensor, at::Tensor> grl_linear_backward_cpu(const at::Tensor& grad, const at::Tensor& x,
                                                                       const at::Tensor& weight,
                                                                       const at::Tensor& lambd) {
  check_grl_linear_backward(grad, x, weight, lambd);
  const auto g2 = grad.reshape({-1, grad.size(-1)});
  const auto x2 = x.reshape({-1, x.size(-1)});
  auto grad_x = at::empty({g2.size(0), weight.size(1)}, x.options());
  at::addmm_out(grad_x, grad_x, g2, weight, /*beta=*/0, /*alpha=*/neg_lambda(lambd));
  return {grad_x.view(x.sizes()), at::mm(g2.t(), x2), g2.sum(0)};
}

}  // namespace

TORCH_LIBRARY_IMPL(dann, CPU, m) {
  m.impl("grl_backward", &grl_backward_cpu);
  m.impl("split_reverse_backward", &split_reverse_backward_cpu);
  m.impl("domain_bce", &domain_bce_cpu);
  m.impl("domain_ce", &domain_ce_cpu);
  m.impl("grl_linear_backward", &grl_linear_backward_cpu);
}

}  // namespace dann
