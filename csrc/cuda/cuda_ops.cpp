// CUDA implementations of the torch.ops.dann schemas (declared in csrc/dann_ops.cpp).
//
// Each wrapper runs the same checks as the CPU kernels and the reference (csrc/checks.h), makes its
// inputs contiguous, allocates contiguous outputs of the input's dtype, picks the element type and
// launches the raw-pointer kernels of csrc/cuda/*.cu on the current stream of the tensor's device.
//
// λ never costs a GPU sync: a CPU λ is read on the host, a GPU λ is read by the kernel itself.
// The one sync is in the losses that validate label tensors (domain_bce with labels, domain_ce):
// the kernel raises a device flag for a bad label and the wrapper reads that 4-byte flag back after
// launching everything (as the reference's `bool((...).any())` does) to raise the same ValueError.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <optional>
#include <tuple>

#include "../checks.h"
#include "dann_cuda.cuh"

namespace dann {
namespace {

using cuda::LambdaArg;

template <typename T>
struct Tag {
  using type = T;
};

// Calls f(Tag<T>{}) with the CUDA element type of a float dtype.
template <typename F>
void dispatch_float(at::ScalarType s, const char* name, F&& f) {
  switch (s) {
    case at::kFloat: return f(Tag<float>{});
    case at::kDouble: return f(Tag<double>{});
    case at::kHalf: return f(Tag<__half>{});
    case at::kBFloat16: return f(Tag<__nv_bfloat16>{});
    default: TORCH_CHECK_TYPE(false, name, " must be float32, float64, bfloat16 or float16, got ", s);
  }
}

// The kernels' dtype code for tensors they read through a void pointer; -1 when unsupported.
int32_t dtype_code(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return cuda::kF32;
    case at::kDouble: return cuda::kF64;
    case at::kHalf: return cuda::kF16;
    case at::kBFloat16: return cuda::kBF16;
    case at::kBool: return cuda::kBool;
    case at::kByte: return cuda::kU8;
    case at::kChar: return cuda::kI8;
    case at::kShort: return cuda::kI16;
    case at::kInt: return cuda::kI32;
    case at::kLong: return cuda::kI64;
    case at::kUInt16: return cuda::kU16;
    case at::kUInt32: return cuda::kU32;
    case at::kUInt64: return cuda::kU64;
    default: return -1;
  }
}

bool is_float_code(int32_t c) { return c == cuda::kF32 || c == cuda::kF64 || c == cuda::kF16 || c == cuda::kBF16; }

// λ for a kernel. `keep` holds a float32 copy when a GPU λ has a dtype the kernels do not read
// (float8 ...); that conversion is an async device op, not a sync.
LambdaArg lambda_arg(const at::Tensor& lambd, at::Tensor& keep) {
  if (lambd.is_cpu()) return LambdaArg{nullptr, cuda::kF32, lambd.item<double>()};
  int32_t code = dtype_code(lambd.scalar_type());
  keep = lambd;
  if (!is_float_code(code)) {
    keep = lambd.to(at::kFloat);
    code = cuda::kF32;
  }
  return LambdaArg{keep.const_data_ptr(), code, 0.0};
}

cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

void check_cuda(const char* name, const at::Tensor& t) {
  TORCH_CHECK_VALUE(t.is_cuda(), name, " is on ", t.device(), "; this kernel needs a CUDA tensor");
}

at::Tensor grl_backward_cuda(const at::Tensor& grad, const at::Tensor& lambd) {
  check_grl_backward(grad, lambd);
  check_float("grad", grad);
  check_cuda("grad", grad);
  const c10::cuda::CUDAGuard guard(grad.device());
  const at::Tensor g = grad.contiguous();
  at::Tensor out = at::empty(g.sizes(), g.options());
  if (g.numel() == 0) return out;
  at::Tensor keep;
  const LambdaArg lam = lambda_arg(lambd, keep);
  dispatch_float(g.scalar_type(), "grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    C10_CUDA_CHECK(cuda::launch_grl_backward<T>(static_cast<const T*>(g.const_data_ptr()),
                                                static_cast<T*>(out.mutable_data_ptr()), g.numel(), lam,
                                                current_stream()));
  });
  return out;
}

at::Tensor split_reverse_backward_cuda(const std::optional<at::Tensor>& grad_label, const at::Tensor& grad_domain,
                                       int64_t n_label_rows, const at::Tensor& lambd) {
  check_split_reverse_backward(grad_label, grad_domain, n_label_rows, lambd);
  check_float("grad_domain", grad_domain);
  check_cuda("grad_domain", grad_domain);
  const c10::cuda::CUDAGuard guard(grad_domain.device());
  const bool has_label = grad_label.has_value() && grad_label->numel() > 0;
  if (has_label && grad_label->scalar_type() != grad_domain.scalar_type()) {
    // Rare (autograd gives both gradients the features' dtype): compute as the reference does.
    const auto ct = grad_domain.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    at::Tensor out = grad_domain.to(ct) * -lambd.to(ct);
    out.narrow(0, 0, n_label_rows).add_(grad_label->to(ct));
    return out.to(grad_domain.scalar_type()).contiguous();
  }
  const at::Tensor gd = grad_domain.contiguous();
  const at::Tensor gl = has_label ? grad_label->contiguous() : at::Tensor();
  at::Tensor out = at::empty(gd.sizes(), gd.options());
  const int64_t n = gd.numel();
  if (n == 0) return out;
  const int64_t n_label = has_label ? gl.numel() : 0;  // = n_label_rows · row size (shape checked)
  at::Tensor keep;
  const LambdaArg lam = lambda_arg(lambd, keep);
  dispatch_float(gd.scalar_type(), "grad_domain", [&](auto tag) {
    using T = typename decltype(tag)::type;
    C10_CUDA_CHECK(cuda::launch_split_reverse_backward<T>(
        has_label ? static_cast<const T*>(gl.const_data_ptr()) : nullptr, static_cast<const T*>(gd.const_data_ptr()),
        static_cast<T*>(out.mutable_data_ptr()), n, n_label, lam, current_stream()));
  });
  return out;
}

// Optional per-sample weights as the kernels read them: a contiguous tensor (undefined if none) and its dtype code.
at::Tensor weight_arg(const std::optional<at::Tensor>& weight, int32_t* code) {
  if (!weight.has_value()) {
    *code = -1;
    return at::Tensor();
  }
  at::Tensor w = weight->contiguous();
  *code = dtype_code(w.scalar_type());
  return w;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> domain_bce_cuda(const at::Tensor& logits,
                                                               const std::optional<at::Tensor>& labels,
                                                               int64_t n_source,
                                                               const std::optional<at::Tensor>& weight,
                                                               c10::string_view reduction) {
  check_domain_bce(logits, labels, n_source, weight, reduction);
  check_cuda("logits", logits);
  const int32_t red = reduction_code(reduction);
  const c10::cuda::CUDAGuard guard(logits.device());
  const int64_t n = logits.size(0);
  const at::Tensor z = logits.contiguous();
  at::Tensor lab;
  int32_t label_code = -1;
  if (labels.has_value()) {
    lab = labels->reshape({n}).contiguous();
    label_code = dtype_code(lab.scalar_type());
    TORCH_CHECK_TYPE(label_code >= 0, "labels must be a bool, integer or float tensor of 0/1, got ",
                     lab.scalar_type());
  }
  int32_t weight_code = -1;
  const at::Tensor w = weight_arg(weight, &weight_code);
  const auto opts = z.options();
  at::Tensor loss = red == 0 ? at::empty({n}, opts) : at::empty({}, opts);
  at::Tensor grad = at::empty(logits.sizes(), opts);
  at::Tensor correct = at::empty({}, opts.dtype(at::kLong));
  at::Tensor bad = labels.has_value() ? at::empty({}, opts.dtype(at::kInt)) : at::Tensor();
  at::Tensor workspace = at::empty({cuda::loss_workspace_bytes(n)}, opts.dtype(at::kByte));
  dispatch_float(z.scalar_type(), "logits", [&](auto tag) {
    using T = typename decltype(tag)::type;
    C10_CUDA_CHECK(cuda::launch_domain_bce<T>(
        static_cast<const T*>(z.const_data_ptr()), n, lab.defined() ? lab.const_data_ptr() : nullptr, label_code,
        n_source, w.defined() ? w.const_data_ptr() : nullptr, weight_code, red, static_cast<T*>(loss.mutable_data_ptr()),
        static_cast<T*>(grad.mutable_data_ptr()), correct.mutable_data_ptr<int64_t>(),
        bad.defined() ? bad.mutable_data_ptr<int32_t>() : nullptr, workspace.mutable_data_ptr(), current_stream()));
  });
  // The one host sync of this op, and only with a label tensor: read the bad-label flag.
  if (bad.defined()) TORCH_CHECK_VALUE(bad.item<int32_t>() == 0, kBinaryLabelsMsg);
  return {loss, grad, correct};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> domain_ce_cuda(const at::Tensor& logits, const at::Tensor& labels,
                                                              const std::optional<at::Tensor>& weight,
                                                              c10::string_view reduction) {
  check_domain_ce(logits, labels, weight, reduction);
  check_cuda("logits", logits);
  const int32_t red = reduction_code(reduction);
  const c10::cuda::CUDAGuard guard(logits.device());
  const int64_t n = logits.size(0), k = logits.size(1);
  const at::Tensor z = logits.contiguous();
  const at::Tensor lab = labels.contiguous();
  const int32_t label_code = dtype_code(lab.scalar_type());
  TORCH_CHECK_TYPE(label_code >= 0 && !is_float_code(label_code) && label_code != cuda::kBool,
                   "labels must be an integer tensor of domain indices, got ", lab.scalar_type());
  int32_t weight_code = -1;
  const at::Tensor w = weight_arg(weight, &weight_code);
  const auto opts = z.options();
  at::Tensor loss = red == 0 ? at::empty({n}, opts) : at::empty({}, opts);
  at::Tensor grad = at::empty({n, k}, opts);
  at::Tensor correct = at::empty({}, opts.dtype(at::kLong));
  at::Tensor bad = at::empty({}, opts.dtype(at::kInt));
  at::Tensor workspace = at::empty({cuda::loss_workspace_bytes(n)}, opts.dtype(at::kByte));
  dispatch_float(z.scalar_type(), "logits", [&](auto tag) {
    using T = typename decltype(tag)::type;
    C10_CUDA_CHECK(cuda::launch_domain_ce<T>(
        static_cast<const T*>(z.const_data_ptr()), n, k, lab.const_data_ptr(), label_code,
        w.defined() ? w.const_data_ptr() : nullptr, weight_code, red, static_cast<T*>(loss.mutable_data_ptr()),
        static_cast<T*>(grad.mutable_data_ptr()), correct.mutable_data_ptr<int64_t>(),
        bad.mutable_data_ptr<int32_t>(), workspace.mutable_data_ptr(), current_stream()));
  });
  // The one host sync of this op: read the out-of-range-label flag.
  if (bad.item<int32_t>() != 0) TORCH_CHECK_VALUE(false, class_labels_msg(k));
  return {loss, grad, correct};
}

// grad_x = -λ·(g @ W), grad_W = gᵀ·x, grad_b = Σ_rows g, with ATen's GEMMs. A CPU λ becomes the
// GEMM's alpha, so the reversal costs no pass; a GPU λ first scales the smaller of g and W (one
// elementwise kernel that reads λ on the device), so nothing waits for the GPU.
std::tuple<at::Tensor, at::Tensor, at::Tensor> grl_linear_backward_cuda(const at::Tensor& grad, const at::Tensor& x,
                                                                        const at::Tensor& weight,
                                                                        const at::Tensor& lambd) {
  check_grl_linear_backward(grad, x, weight, lambd);
  check_cuda("x", x);
  TORCH_CHECK_VALUE(grad.device() == x.device() && weight.device() == x.device(), "grad is on ", grad.device(),
                    ", x on ", x.device(), " and weight on ", weight.device(), "; they must share one device");
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor g2 = grad.reshape({-1, grad.size(-1)});
  const at::Tensor x2 = x.reshape({-1, x.size(-1)});
  at::Tensor grad_x;
  if (lambd.is_cpu()) {
    grad_x = at::empty({g2.size(0), weight.size(1)}, g2.options());
    at::addmm_out(grad_x, grad_x, g2, weight, /*beta=*/0, /*alpha=*/-lambd.item<double>());
  } else if (g2.numel() <= weight.numel()) {
    grad_x = at::mm(grl_backward_cuda(g2, lambd), weight);
  } else {
    grad_x = at::mm(g2, grl_backward_cuda(weight, lambd));
  }
  return {grad_x.reshape(x.sizes()), at::mm(g2.t(), x2), g2.sum(0)};
}

}  // namespace

TORCH_LIBRARY_IMPL(dann, CUDA, m) {
  m.impl("grl_backward", TORCH_FN(grl_backward_cuda));
  m.impl("split_reverse_backward", TORCH_FN(split_reverse_backward_cuda));
  m.impl("domain_bce", TORCH_FN(domain_bce_cuda));
  m.impl("domain_ce", TORCH_FN(domain_ce_cuda));
  m.impl("grl_linear_backward", TORCH_FN(grl_linear_backward_cuda));
}

}  // namespace dann
