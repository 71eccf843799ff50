// Every dann op schema, declared once, and the Python module that reports how the extension was built.
// Kernels register per device: csrc/cpu/ops_cpu.cpp (CPU), csrc/cuda/cuda_ops.cpp (CUDA).
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include "cpu/kernels.h"
#ifdef DANN_WITH_CUDA
#include "cuda/cuda_info.h"
#endif

// Every op is pt2_compliant (fake kernels, opcheck-tested) and deliberately not cudagraph_unsafe: the
// CUDA kernels never wait for the host nor read λ there (csrc/cuda/cuda_ops.cpp), so
// torch.compile(mode="reduce-overhead") may record them into its CUDA graphs.
TORCH_LIBRARY(dann, m) {
  const std::vector<at::Tag> tags = {at::Tag::pt2_compliant_tag};
  // grad_in = -λ·grad_out: the backward of the gradient reversal layer.
  m.def("grl_backward(Tensor grad, Tensor lambd) -> Tensor", tags);
  // Rows [0, n_label_rows): grad_label - λ·grad_domain; the rest: -λ·grad_domain.
  m.def("split_reverse_backward(Tensor? grad_label, Tensor grad_domain, int n_label_rows, Tensor lambd) -> Tensor",
        tags);
  // Binary domain loss from logits: (loss, d loss/d logits, number of correct domain predictions).
  m.def(
      "domain_bce(Tensor logits, Tensor? labels, int n_source, Tensor? weight, str reduction)"
      " -> (Tensor, Tensor, Tensor)",
      tags);
  // K-way domain loss (multi-source DANN), same outputs.
  m.def("domain_ce(Tensor logits, Tensor labels, Tensor? weight, str reduction) -> (Tensor, Tensor, Tensor)", tags);
  // Backward of linear(GRL(x), W, b): (−λ·g@W, gᵀx, Σg).
  m.def("grl_linear_backward(Tensor grad, Tensor x, Tensor weight, Tensor lambd) -> (Tensor, Tensor, Tensor)",
        tags);
}

namespace {

pybind11::dict build_info() {
  pybind11::dict info;
#ifdef DANN_WITH_CUDA
  info["cuda"] = true;
  info["cuda_archs"] = dann::cuda_build_archs();
#else
  info["cuda"] = false;
  info["cuda_archs"] = std::vector<std::string>{};
#endif
  info["cpu_simd"] = dann::cpu::selected_simd();
  info["threads"] = at::get_num_threads();
#ifdef _OPENMP
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
  return info;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.doc() = "dann's compiled ops; importing this module registers torch.ops.dann.*";
  module.def("build_info", &build_info, "How the extension was built and what it runs with here");
#ifdef DANN_WITH_CUDA
  module.def("raise_pending_label_errors", &dann::raise_pending_label_errors,
             "Raise the ValueError of a bad domain label that a CUDA loss kernel found since the last check");
#endif
}
