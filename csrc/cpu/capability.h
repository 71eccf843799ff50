// Which SIMD tier the CPU kernels run at: ATen's CPU_CAPABILITY scheme. Each tier's kernels are
// their own translation unit built with that tier's compiler flags (setup.py); a tier runs only when
// cpuid reports every flag it was compiled for. DANN_CPU_CAPABILITY may lower the tier (to test the
// others on one machine), never raise it. No torch headers here: this file is compiled everywhere.
#pragma once

#include <string>
#include <vector>

namespace dann::cpu {

// Ordered: each tier needs every flag of the tiers below it.
enum class Capability : int { kDefault = 0, kAvx2 = 1, kAvx512 = 2, kAvx512Bf16 = 3 };

const std::vector<Capability>& all_capabilities();  // lowest first
// "default", "avx2", "avx512", "avx512_bf16": the DANN_CPU_CAPABILITY spellings.
const char* capability_name(Capability c);

// The CPU flags (as /proc/cpuinfo spells them) a tier needs that this CPU lacks; empty when it runs.
std::vector<std::string> missing_cpu_flags(Capability c);

Capability best_capability();    // the highest tier this CPU runs
Capability active_capability();  // what the kernels run at now

// Parses a tier name; throws c10::ValueError (one line naming the choices, or the missing flags)
// when the name is unknown or the CPU lacks the tier. Used by set_cpu_capability and the tests.
Capability parse_supported_capability(const std::string& name);
void set_active_capability(Capability c);

// Why DANN_CPU_CAPABILITY was not followed (an unknown name, or a tier above this CPU), or "".
const std::string& capability_override_note();

}  // namespace dann::cpu
