// Autograd for the fused losses, in C++: the forward already computed d loss / d logits, so backward
// only scales it by the upstream gradient. Registering this as the ops' Autograd kernel (instead of
// torch.library.register_autograd in Python) keeps every call off the Python interpreter, which at
// DANN batch sizes costs more than the loss itself.
//
// The kernel builds its graph node by hand, as PyTorch's generated kernels do, rather than through
// torch::autograd::Function: that one builds a node, an output wrapper and a context on every call,
// even when nothing requires a gradient, and its node materialises a zero gradient for each
// non-differentiable output in backward.
#include <ATen/FuncTorchTLS.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/library.h>

#include <optional>
#include <string>

namespace dann {
namespace {

using torch::autograd::variable_list;
using LossOutputs = std::tuple<at::Tensor, at::Tensor, at::Tensor>;  // (loss, d loss / d logits, n_correct)

// A real CPU tensor, not a fake or functional one being traced by torch.compile (reading its value
// there would be a data-dependent guard).
bool is_plain_cpu(const at::Tensor& t) {
  const auto traced = c10::DispatchKeySet({c10::DispatchKey::Python, c10::DispatchKey::Functionalize,
                                           c10::DispatchKey::PythonTLSSnapshot});
  return t.is_cpu() && !t.key_set().has_any(traced) && !c10::impl::tls_is_dispatch_key_included(c10::DispatchKey::Python);
}

// The value of a plain CPU 0-dim tensor, read from memory (item() would be two dispatcher calls).
double cpu_scalar(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat:
      return *t.const_data_ptr<float>();
    case at::kDouble:
      return *t.const_data_ptr<double>();
    default:
      return t.item<double>();
  }
}

at::Tensor scale_saved_grad(const at::Tensor& grad, const at::Tensor& grad_loss) {
  if (!grad_loss.defined()) return at::Tensor();
  // loss.backward() sends exactly 1: the saved gradient is the answer, and skipping the multiply
  // saves a pass and an allocation as large as the logits. Autograd never writes into a gradient
  // that something else (here the saved variable) still references, so handing it out is safe.
  // Reading the value costs nothing on the CPU; on a GPU it would sync, so there we multiply.
  if (grad_loss.dim() == 0 && is_plain_cpu(grad_loss) && cpu_scalar(grad_loss) == 1.0) return grad;
  if (grad_loss.dim() == 1 && grad.dim() > 1) {  // reduction 'none': one upstream value per row
    std::vector<int64_t> shape(grad.dim(), 1);
    shape[0] = grad_loss.size(0);
    return grad.mul(grad_loss.reshape(shape));
  }
  return grad.mul(grad_loss);
}

// Backward of a loss that saved its own gradient: d loss / d logits times the upstream gradient.
struct SavedGradientBackward : public torch::autograd::Node {
  SavedGradientBackward(const char* name, const at::Tensor& grad) : name_(name), grad_(grad, /*is_output=*/false) {}

  variable_list apply(variable_list&& grads) override {
    std::lock_guard<std::mutex> lock(mutex_);  // release_variables may run concurrently
    return {scale_saved_grad(grad_.unpack(), grads[0])};
  }

  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    grad_.reset_data();
  }

  std::string name() const override { return name_; }

 private:
  const char* name_;
  torch::autograd::SavedVariable grad_;
};

// Runs the op below autograd; when logits need a gradient, the loss gets a SavedGradientBackward node.
template <typename Call>
LossOutputs with_saved_gradient(const char* node_name, const at::Tensor& logits, Call&& call) {
  if (const auto& functorch = at::functorch::functorchTLSAccessor()) functorch->checkSupportsCppAutogradFunction();
  TORCH_CHECK_NOT_IMPLEMENTED(!torch::autograd::isFwGradDefined(logits), node_name,
                              ": forward-mode AD is not supported; use reverse mode (backward)");
  LossOutputs out;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    out = call();
  }
  if (torch::autograd::compute_requires_grad(logits)) {
    auto node = c10::make_intrusive<SavedGradientBackward>(node_name, std::get<1>(out));
    node->set_next_edges(torch::autograd::collect_next_edges(logits));
    torch::autograd::set_history(std::get<0>(out), node);
  }
  return out;
}

LossOutputs domain_bce_autograd(const at::Tensor& logits, const std::optional<at::Tensor>& labels, int64_t n_source,
                                const std::optional<at::Tensor>& weight, c10::string_view reduction) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("dann::domain_bce", "")
                       .typed<LossOutputs(const at::Tensor&, const std::optional<at::Tensor>&, int64_t,
                                          const std::optional<at::Tensor>&, c10::string_view)>();
  return with_saved_gradient("DomainBceBackward", logits,
                             [&] { return op.call(logits, labels, n_source, weight, reduction); });
}

LossOutputs domain_ce_autograd(const at::Tensor& logits, const at::Tensor& labels,
                               const std::optional<at::Tensor>& weight, c10::string_view reduction) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("dann::domain_ce", "")
                       .typed<LossOutputs(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                          c10::string_view)>();
  return with_saved_gradient("DomainCeBackward", logits, [&] { return op.call(logits, labels, weight, reduction); });
}

}  // namespace

TORCH_LIBRARY_IMPL(dann, Autograd, m) {
  m.impl("domain_bce", &domain_bce_autograd);
  m.impl("domain_ce", &domain_ce_autograd);
}

}  // namespace dann
