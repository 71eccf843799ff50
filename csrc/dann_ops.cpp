// Every dann op schema, declared once, and the Python module that reports how the extension was built.
// Kernels register per device: csrc/cpu/ops_cpu.cpp (CPU), csrc/cuda/cuda_ops.cpp (CUDA).
#include <ATen/Parallel.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/library.h>

#include "cpu/capability.h"
#include "variant.h"

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
  info["cuda"] = dann::built_with_cuda();
  info["cuda_archs"] = dann::cuda_build_archs();
  info["cpu_capability"] = dann::cpu::capability_name(dann::cpu::active_capability());
  info["cpu_capability_best"] = dann::cpu::capability_name(dann::cpu::best_capability());
  info["threads"] = at::get_num_threads();
#ifdef _OPENMP
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
  return info;
}

// Every CPU tier of this build and the CPU flags it needs that this CPU lacks (empty: it runs here).
pybind11::dict cpu_capabilities() {
  pybind11::dict tiers;
  for (auto c : dann::cpu::all_capabilities()) tiers[dann::cpu::capability_name(c)] = dann::cpu::missing_cpu_flags(c);
  return tiers;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.doc() = "dann's compiled ops; importing this module registers torch.ops.dann.*";
  module.def("build_info", &build_info, "How the extension was built and what it runs with here");
  module.def(
      "cpu_capability", [] { return std::string(dann::cpu::capability_name(dann::cpu::active_capability())); },
      "The SIMD tier the CPU kernels run at now: default, avx2, avx512 or avx512_bf16");
  module.def(
      "set_cpu_capability",
      [](const std::string& name) { dann::cpu::set_active_capability(dann::cpu::parse_supported_capability(name)); },
      "Run the CPU kernels at another tier this CPU supports (ValueError otherwise)");
  module.def("cpu_capabilities", &cpu_capabilities,
             "Every tier of this build and the CPU flags each lacks here (an empty list: it runs)");
  // DANN_CPU_CAPABILITY asked for something this CPU cannot run: say so once, where it was imported.
  const std::string& note = dann::cpu::capability_override_note();
  if (!note.empty() && PyErr_WarnEx(PyExc_RuntimeWarning, ("dann: " + note).c_str(), 1) < 0)
    throw pybind11::error_already_set();
  if (dann::built_with_cuda())
    module.def("raise_pending_label_errors", &dann::raise_pending_label_errors,
               "Raise the ValueError of a bad domain label that a CUDA loss kernel found since the last check");
}
