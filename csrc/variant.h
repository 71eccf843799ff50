// What the CUDA part of dann_core._C offers the Python module (csrc/dann_ops.cpp): how it was compiled,
// and the deferred bad-label errors of its losses.
#pragma once

#include <string>
#include <vector>

namespace dann {

// The real GPU architectures compiled into the CUDA kernels, as "sm_80", "sm_90", ... (from nvcc's
// __CUDA_ARCH_LIST__, i.e. TORCH_CUDA_ARCH_LIST at build time). A "+PTX" entry also embeds PTX for
// its arch, which __CUDA_ARCH_LIST__ does not distinguish; it is listed once as sm_XX.
std::vector<std::string> cuda_build_archs();

// Raises the ValueError for a bad label that a domain_bce / domain_ce kernel found since the last
// check on any device (csrc/cuda/cuda_ops.cpp); the next loss call on that device checks too.
void raise_pending_label_errors();

}  // namespace dann
