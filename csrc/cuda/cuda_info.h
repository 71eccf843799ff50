// What the CUDA part of dann_core._C was compiled for; build_info() (csrc/dann_ops.cpp) reports it.
#pragma once

#include <string>
#include <vector>

namespace dann {

// The real GPU architectures compiled into the CUDA kernels, as "sm_80", "sm_90", ... (from nvcc's
// __CUDA_ARCH_LIST__, i.e. TORCH_CUDA_ARCH_LIST at build time). A "+PTX" entry also embeds PTX for
// its arch, which __CUDA_ARCH_LIST__ does not distinguish; it is listed once as sm_XX.
std::vector<std::string> cuda_build_archs();

}  // namespace dann
