// Detects the CPU's SIMD tier once and holds the active one (see capability.h).
#include "capability.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>

namespace dann::cpu {
namespace {

const std::vector<Capability> kAll = {Capability::kDefault, Capability::kAvx2, Capability::kAvx512,
                                     Capability::kAvx512Bf16};

// The flags each tier adds to the one below: the -m flags setup.py compiles it with, in the
// /proc/cpuinfo spelling, paired with __builtin_cpu_supports's (which also checks that the OS saves
// the wider registers).
struct Flag {
  const char* cpuinfo;
  bool (*present)();
};

#if defined(__x86_64__) || defined(_M_X64)
#define DANN_FLAG(cpuinfo_name, builtin_name) \
  Flag { cpuinfo_name, [] { return static_cast<bool>(__builtin_cpu_supports(builtin_name)); } }
const std::vector<Flag>& added_flags(Capability c) {
  static const std::vector<Flag> none;
  static const std::vector<Flag> avx2 = {DANN_FLAG("avx2", "avx2"), DANN_FLAG("fma", "fma"),
                                         DANN_FLAG("f16c", "f16c")};
  // ATen's AVX512 level: F, BW, VL and DQ (its Vectorized<float> uses DQ's and/or/xor).
  static const std::vector<Flag> avx512 = {DANN_FLAG("avx512f", "avx512f"), DANN_FLAG("avx512bw", "avx512bw"),
                                           DANN_FLAG("avx512vl", "avx512vl"), DANN_FLAG("avx512dq", "avx512dq")};
  static const std::vector<Flag> bf16 = {DANN_FLAG("avx512_bf16", "avx512bf16")};
  switch (c) {
    case Capability::kAvx2:
      return avx2;
    case Capability::kAvx512:
      return avx512;
    case Capability::kAvx512Bf16:
      return bf16;
    default:
      return none;
  }
}
#undef DANN_FLAG
#else
// Only the baseline tier exists off x86-64: the others are not built, so they are "missing" there.
const std::vector<Flag>& added_flags(Capability c) {
  static const std::vector<Flag> none;
  static const std::vector<Flag> x86 = {Flag{"x86-64", [] { return false; }}};
  return c == Capability::kDefault ? none : x86;
}
#endif

std::vector<std::string> capability_names() {
  std::vector<std::string> names;
  for (Capability c : kAll) names.emplace_back(capability_name(c));
  return names;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return s;
}

bool find_capability(const std::string& name, Capability& out) {
  for (Capability c : kAll) {
    if (lowercase(name) == capability_name(c)) {
      out = c;
      return true;
    }
  }
  return false;
}

struct State {
  Capability best = Capability::kDefault;
  std::atomic<int> active{0};
  std::string note;
};

State& state() {
  static State* s = [] {
    auto* st = new State();  // leaked on purpose: kernels may run during interpreter teardown
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
#endif
    for (Capability c : kAll)
      if (missing_cpu_flags(c).empty()) st->best = c;
    Capability chosen = st->best;
    const char* env = std::getenv("DANN_CPU_CAPABILITY");
    if (env && *env) {
      Capability asked;
      if (!find_capability(env, asked)) {
        st->note = std::string("DANN_CPU_CAPABILITY='") + env + "' is not one of " + join(capability_names()) +
                   "; running " + capability_name(chosen) + ", the best this CPU has";
      } else if (!missing_cpu_flags(asked).empty()) {
        st->note = std::string("DANN_CPU_CAPABILITY=") + capability_name(asked) + " but this CPU lacks " +
                   join(missing_cpu_flags(asked)) + "; running " + capability_name(chosen);
      } else {
        chosen = asked;
      }
    }
    st->active.store(static_cast<int>(chosen));
    return st;
  }();
  return *s;
}

}  // namespace

const char* capability_name(Capability c) {
  switch (c) {
    case Capability::kAvx2:
      return "avx2";
    case Capability::kAvx512:
      return "avx512";
    case Capability::kAvx512Bf16:
      return "avx512_bf16";
    default:
      return "default";
  }
}

const std::vector<Capability>& all_capabilities() { return kAll; }

std::vector<std::string> missing_cpu_flags(Capability c) {
  std::vector<std::string> missing;
  for (Capability level : kAll) {
    if (static_cast<int>(level) > static_cast<int>(c)) break;
    for (const Flag& flag : added_flags(level))
      if (!flag.present()) missing.emplace_back(flag.cpuinfo);
  }
  return missing;
}

Capability best_capability() { return state().best; }

Capability active_capability() { return static_cast<Capability>(state().active.load(std::memory_order_relaxed)); }

Capability parse_supported_capability(const std::string& name) {
  Capability c;
  TORCH_CHECK_VALUE(find_capability(name, c), "cpu capability must be one of ", join(capability_names()), "; got '",
                    name, "'");
  const auto missing = missing_cpu_flags(c);
  TORCH_CHECK_VALUE(missing.empty(), "cpu capability ", capability_name(c), " needs ", join(missing),
                    ", which this CPU lacks; it runs up to ", capability_name(best_capability()));
  return c;
}

void set_active_capability(Capability c) {
  TORCH_CHECK_VALUE(static_cast<int>(c) <= static_cast<int>(state().best), "cpu capability ", capability_name(c),
                    " is above what this CPU runs (", capability_name(state().best), ")");
  state().active.store(static_cast<int>(c), std::memory_order_relaxed);
}

const std::string& capability_override_note() { return state().note; }

}  // namespace dann::cpu
