// Autograd for the fused losses, in C++: the forward already computed d loss / d logits, so backward
// only scales it by the upstream gradient. Registering this as the ops' Autograd kernel (instead of
// torch.library.register_autograd in Python) keeps every call off the Python interpreter, which at
// DANN batch sizes costs more than the loss itself.
#include <torch/csrc/autograd/custom_function.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <optional>

namespace dann {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A real CPU tensor, not a fake or functional one being traced by torch.compile (reading its value
// there would be a data-dependent guard).
bool is_plain_cpu(const at::Tensor& t) {
  const auto traced = c10::DispatchKeySet({c10::DispatchKey::Python, c10::DispatchKey::Functionalize,
                                           c10::DispatchKey::PythonTLSSnapshot});
  return t.is_cpu() && !t.key_set().has_any(traced) && !c10::impl::tls_is_dispatch_key_included(c10::DispatchKey::Python);
}

at::Tensor scale_saved_grad(const at::Tensor& grad, const at::Tensor& grad_loss) {
  if (!grad_loss.defined()) return at::Tensor();  // grads are not materialised (save_gradient)
  // loss.backward() sends exactly 1: the saved gradient is the answer, and skipping the multiply
  // saves a pass and an allocation as large as the logits. Autograd never writes into a gradient
  // that something else (here the saved variable) still references, so handing it out is safe.
  // Reading the value costs nothing on the CPU; on a GPU it would sync, so there we multiply.
  if (grad_loss.dim() == 0 && is_plain_cpu(grad_loss) && grad_loss.item<double>() == 1.0) return grad;
  if (grad_loss.dim() == 1 && grad.dim() > 1) {  // reduction 'none': one upstream value per row
    std::vector<int64_t> shape(grad.dim(), 1);
    shape[0] = grad_loss.size(0);
    return grad.mul(grad_loss.reshape(shape));
  }
  return grad.mul(grad_loss);
}

// Runs the op below autograd, keeps its gradient output for backward.
template <typename Call>
variable_list save_gradient(AutogradContext* ctx, Call&& call) {
  at::AutoDispatchBelowADInplaceOrView guard;
  auto [loss, grad, correct] = call();
  // Backward receives a gradient for each of the three outputs, but only the loss's matters; left
  // materialised, autograd would first fill a zero tensor as large as the logits for the others.
  ctx->set_materialize_grads(false);
  ctx->save_for_backward({grad});
  ctx->mark_non_differentiable({grad, correct});
  return {loss, grad, correct};
}

class DomainBce : public torch::autograd::Function<DomainBce> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& logits, const std::optional<at::Tensor>& labels,
                               int64_t n_source, const std::optional<at::Tensor>& weight, c10::string_view reduction) {
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("dann::domain_bce", "")
                         .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                             const at::Tensor&, const std::optional<at::Tensor>&, int64_t,
                             const std::optional<at::Tensor>&, c10::string_view)>();
    return save_gradient(ctx, [&] { return op.call(logits, labels, n_source, weight, reduction); });
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {scale_saved_grad(ctx->get_saved_variables()[0], grads[0]), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

class DomainCe : public torch::autograd::Function<DomainCe> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& logits, const at::Tensor& labels,
                               const std::optional<at::Tensor>& weight, c10::string_view reduction) {
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("dann::domain_ce", "")
                         .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                             const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                             c10::string_view)>();
    return save_gradient(ctx, [&] { return op.call(logits, labels, weight, reduction); });
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {scale_saved_grad(ctx->get_saved_variables()[0], grads[0]), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> as_tuple(const variable_list& out) { return {out[0], out[1], out[2]}; }

std::tuple<at::Tensor, at::Tensor, at::Tensor> domain_bce_autograd(const at::Tensor& logits,
                                                                   const std::optional<at::Tensor>& labels,
                                                                   int64_t n_source,
                                                                   const std::optional<at::Tensor>& weight,
                                                                   c10::string_view reduction) {
  return as_tuple(DomainBce::apply(logits, labels, n_source, weight, reduction));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> domain_ce_autograd(const at::Tensor& logits, const at::Tensor& labels,
                                                                  const std::optional<at::Tensor>& weight,
                                                                  c10::string_view reduction) {
  return as_tuple(DomainCe::apply(logits, labels, weight, reduction));
}

}  // namespace

TORCH_LIBRARY_IMPL(dann, Autograd, m) {
  m.impl("domain_bce", &domain_bce_autograd);
  m.impl("domain_ce", &domain_ce_autograd);
}

}  // namespace dann
