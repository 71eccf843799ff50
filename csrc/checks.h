// Input checks shared by the CPU and CUDA kernels. The wording matches dann_core/ops/checks.py, so
// a caller gets the same error from the kernel and from the reference; keep the two in step.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <optional>
#include <string>

namespace dann {

// Formats sizes as Python prints a shape tuple: (), (5,), (2, 3).
inline std::string shape_str(at::IntArrayRef sizes) {
  std::string s = "(";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + (sizes.size() == 1 ? ",)" : ")");
}

inline std::string shape_str(const at::Tensor& t) { return shape_str(t.sizes()); }

// Integers go into messages as text: c10::str with an int64_t argument crashed (SIGSEGV) in this
// extension under torch 2.11 on an H200 machine, while string-only messages were fine.
inline std::string num(int64_t v) { return std::to_string(v); }

inline bool is_float_dtype(at::ScalarType s) {
  return s == at::kFloat || s == at::kDouble || s == at::kBFloat16 || s == at::kHalf;
}

inline void check_lambda(const at::Tensor& lambd, const at::Tensor& like) {
  TORCH_CHECK_VALUE(lambd.dim() == 0, "lambd must be a 0-dim tensor (e.g. torch.tensor(0.5)), got shape ",
                    shape_str(lambd));
  TORCH_CHECK_TYPE(lambd.is_floating_point(), "lambd must be a floating-point tensor, got ", lambd.scalar_type());
  TORCH_CHECK_VALUE(lambd.device() == like.device() || lambd.device().is_cpu(), "lambd is on ", lambd.device(),
                    " but the tensor is on ", like.device(), "; use either or the CPU");
}

inline void check_float(const char* name, const at::Tensor& t) {
  TORCH_CHECK_TYPE(is_float_dtype(t.scalar_type()), name, " must be float32, float64, bfloat16 or float16, got ",
                   t.scalar_type());
}

inline void check_same_device(const char* name, const at::Tensor& t, const at::Tensor& logits) {
  TORCH_CHECK_VALUE(t.device() == logits.device(), name, " is on ", t.device(), " but logits are on ",
                    logits.device());
}

// 0 = none, 1 = mean, 2 = sum.
inline int reduction_code(c10::string_view reduction) {
  if (reduction == "none") return 0;
  if (reduction == "mean") return 1;
  if (reduction == "sum") return 2;
  TORCH_CHECK_VALUE(false, "reduction must be one of none, mean, sum; got '", std::string(reduction), "'");
}

inline void check_weight(const std::optional<at::Tensor>& weight, const at::Tensor& logits) {
  if (!weight.has_value()) return;
  check_float("weight", *weight);
  check_same_device("weight", *weight, logits);
  TORCH_CHECK_VALUE(weight->dim() == 1 && weight->numel() == logits.size(0), "weight must have shape (",
                    num(logits.size(0)), ",) to match logits, got ", shape_str(*weight));
}

inline void check_grl_backward(const at::Tensor& grad, const at::Tensor& lambd) { check_lambda(lambd, grad); }

inline void check_split_reverse_backward(const std::optional<at::Tensor>& grad_label, const at::Tensor& grad_domain,
                                         int64_t n_label_rows, const at::Tensor& lambd) {
  const int64_t n = grad_domain.dim() ? grad_domain.size(0) : 0;
  TORCH_CHECK_VALUE(grad_domain.dim() > 0 && n_label_rows >= 0 && n_label_rows <= n, "n_label_rows must be in [0, ",
                    num(n), "] (rows of features), got ", num(n_label_rows));
  if (grad_label.has_value()) {
    auto expected = grad_domain.sizes().vec();
    expected[0] = n_label_rows;
    TORCH_CHECK_VALUE(grad_label->sizes() == at::IntArrayRef(expected), "grad_label must have shape ",
                      shape_str(expected), ", got ", shape_str(*grad_label));
    check_same_device("grad_label", *grad_label, grad_domain);
  }
  check_lambda(lambd, grad_domain);
}

inline void check_domain_bce(const at::Tensor& logits, const std::optional<at::Tensor>& labels, int64_t n_source,
                             const std::optional<at::Tensor>& weight, c10::string_view reduction) {
  check_float("logits", logits);
  TORCH_CHECK_VALUE(logits.dim() == 1 || (logits.dim() == 2 && logits.size(1) == 1),
                    "logits must have shape (N,) or (N, 1), got ", shape_str(logits));
  const int64_t n = logits.size(0);
  TORCH_CHECK_VALUE(n > 0, "logits is empty: a domain loss needs at least one row");
  if (labels.has_value()) {
    check_same_device("labels", *labels, logits);
    TORCH_CHECK_VALUE(labels->numel() == n && labels->dim() <= 2, "labels must have ", num(n),
                      " entries to match logits, got shape ", shape_str(*labels));
  } else {
    TORCH_CHECK_VALUE(n_source >= 0 && n_source <= n, "n_source must be in [0, ", num(n), "] (rows of logits), got ",
                      num(n_source));
  }
  check_weight(weight, logits);
  reduction_code(reduction);
}

inline void check_domain_ce(const at::Tensor& logits, const at::Tensor& labels,
                            const std::optional<at::Tensor>& weight, c10::string_view reduction) {
  check_float("logits", logits);
  TORCH_CHECK_VALUE(logits.dim() == 2 && logits.size(1) >= 1, "logits must have shape (N, K) with K domains, got ",
                    shape_str(logits));
  const int64_t n = logits.size(0);
  TORCH_CHECK_VALUE(n > 0, "logits is empty: a domain loss needs at least one row");
  check_same_device("labels", labels, logits);
  TORCH_CHECK_TYPE(at::isIntegralType(labels.scalar_type(), /*includeBool=*/false),
                   "labels must be an integer tensor of domain indices, got ", labels.scalar_type());
  TORCH_CHECK_VALUE(labels.dim() == 1 && labels.numel() == n, "labels must have shape (", num(n),
                    ",) to match logits, got ", shape_str(labels));
  check_weight(weight, logits);
  reduction_code(reduction);
}

inline void check_grl_linear_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& weight,
                                      const at::Tensor& lambd) {
  check_lambda(lambd, x);
  TORCH_CHECK_VALUE(weight.dim() == 2 && x.dim() >= 1 && x.size(-1) == weight.size(1),
                    "weight must have shape (out_features, ", num(x.size(-1)), "), got ", shape_str(weight));
  TORCH_CHECK_VALUE(grad.dim() >= 1 && grad.size(-1) == weight.size(0), "grad must have last dimension ",
                    num(weight.size(0)), " (out_features), got ", shape_str(grad));
}

inline const char* kBinaryLabelsMsg = "domain_bce: labels must be 0 (source) or 1 (target); found another value";

inline std::string class_labels_msg(int64_t k) {
  return "domain_ce: labels must be integers in [0, " + std::to_string(k) + ") for " + std::to_string(k) +
         " domains; found a value outside";
}

}  // namespace dann
