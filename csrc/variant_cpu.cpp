// csrc/variant.h for the CPU-only build. No torch headers: this is the one source the CPU build
// compiles that the CUDA build does not share.
#include "variant.h"

namespace dann {

bool built_with_cuda() { return false; }

std::vector<std::string> cuda_build_archs() { return {}; }

void raise_pending_label_errors() {}  // never offered to Python without CUDA (csrc/dann_ops.cpp)

}  // namespace dann
