// What differs between the CPU-only and the CPU+CUDA builds of dann_core._C, behind plain functions:
// csrc/variant_cpu.cpp defines them for the CPU-only build, csrc/cuda/cuda_info.cu for the CUDA one.
// Every other CPU source is then compiled alike in both builds, and setup.py shares their objects
// between the two (a CUDA build after a CPU one compiles the CUDA sources only).
#pragma once

#include <string>
#include <vector>

namespace dann {

// Whether this build has the CUDA kernels (csrc/cuda/cuda_ops.cpp).
bool built_with_cuda();

// The real GPU architectures compiled into the CUDA kernels, as "sm_80", "sm_90", ... (from nvcc's
// __CUDA_ARCH_LIST__, i.e. TORCH_CUDA_ARCH_LIST at build time); empty without CUDA. A "+PTX" entry
// also embeds PTX for its arch, which __CUDA_ARCH_LIST__ does not distinguish; it is listed once.
std::vector<std::string> cuda_build_archs();

// CUDA builds: raises the ValueError for a bad label that a domain_bce / domain_ce kernel found
// since the last check on any device (csrc/cuda/cuda_ops.cpp); the next loss call on that device
// checks too. The Python module offers it only when built_with_cuda().
void raise_pending_label_errors();

}  // namespace dann
