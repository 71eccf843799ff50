// csrc/variant.h for the CUDA build. cuda_build_archs(): nvcc defines __CUDA_ARCH_LIST__ (e.g. 800,900)
// in the host pass of every .cu, so this tiny TU records the archs the kernels were built for. No torch
// headers. raise_pending_label_errors() lives with the kernels' error flags in cuda_ops.cpp.
#include "../variant.h"

#define DANN_STR2(...) #__VA_ARGS__
#define DANN_STR(...) DANN_STR2(__VA_ARGS__)

namespace dann {

bool built_with_cuda() { return true; }

std::vector<std::string> cuda_build_archs() {
#ifdef __CUDA_ARCH_LIST__
  const std::string list = DANN_STR(__CUDA_ARCH_LIST__);  // "800,900"
#else
  const std::string list;
#endif
  std::vector<std::string> archs;
  size_t start = 0;
  while (start < list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string num = list.substr(start, end - start);
    while (!num.empty() && num.front() == ' ') num.erase(0, 1);
    while (!num.empty() && num.back() == ' ') num.pop_back();
    // 800 -> sm_80, 900 -> sm_90, 1000 -> sm_100 (nvcc writes major*100 + minor*10).
    if (num.size() > 1 && num.back() == '0') num.pop_back();
    if (!num.empty()) archs.push_back("sm_" + num);
    start = end + 1;
  }
  return archs;
}

}  // namespace dann
