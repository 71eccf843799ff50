"""The built library keeps each SIMD tier's instructions inside that tier's functions.

Each tier's kernels are compiled with their own -m flags, so every inline function they use is emitted
with those instructions too. Were the linker to keep such a copy for a function the baseline code also
calls (or were a static initializer compiled with AVX), the library would die with SIGILL on a CPU
without the tier, before any dispatch could help. setup.py links the tiers last so the baseline copies
win; this test disassembles the library and checks it, on any machine (no AVX-512 CPU needed).
"""
from __future__ import annotations

import platform
import re
import shutil
import subprocess

import pytest

from op_samples import HAS_EXT

# Tiers by how their functions are named: the kernels' namespaces and ATen's per-capability inline
# namespaces, demangled or (in OpenMP's outlined functions, which objdump leaves mangled) mangled.
TIER_NAMES = {
    "avx512_bf16": ("cpu::avx512_bf16::", "3cpu11avx512_bf16", "vec::AVX512BF16::", "3vec10AVX512BF16"),
    "avx512": ("cpu::avx512::", "3cpu6avx512", "vec::AVX512::", "3vec6AVX512"),
    "avx2": ("cpu::avx2::", "3cpu4avx2", "vec::AVX2::", "3vec4AVX2"),
}
# What only EVEX (AVX-512) encodes: zmm and mask registers, the upper 16 vector registers, and the
# EVEX-only mnemonics the compiler emits for 128/256-bit code under -mavx512vl.
AVX512_OPERAND = re.compile(r"%zmm|%k[0-7]\b|%[xy]mm(1[6-9]|2[0-9]|3[01])\b|\{1to\d+\}")
AVX512_MNEMONIC = re.compile(
    r"^(vpternlog|vmovdq[au](8|16|32|64)|vrcp14|vrsqrt14|vpermt2|vpermi2|vscalef|vgetexp|vgetmant|vfixupimm"
    r"|vrndscale|vreduce|vrange|v(p)?compress|v(p)?expand|vpmov[a-z]*2m|vpmovm2|vpbroadcastm|v(extract|insert)[fi](32x|64x)"
    r"|vshuf[fi](32x4|64x2)|valign[dq]|vpro[lr]|vpsraq|vpabsq|vpm(ax|in)[su]q|vpmullq|vcvt[a-z0-9]*(qq|udq|uqq|usi)"
    r"|vpconflict|vplzcnt|vpopcnt|vpshl|vpshr|vpdpb|vpdpw|vpermb|vpmultishift|k[a-z]+)")
BF16_MNEMONIC = re.compile(r"^(vcvtne2ps2bf16|vcvtneps2bf16|vdpbf16ps)")


def _tier(function: str) -> str:
    for tier, names in TIER_NAMES.items():
        if any(n in function for n in names):
            return tier
    return "baseline"


def _instruction_set(mnemonic: str, operands: str) -> str:
    if BF16_MNEMONIC.match(mnemonic):
        return "avx512_bf16"
    if AVX512_MNEMONIC.match(mnemonic) or AVX512_OPERAND.search(operands):
        return "avx512"
    if mnemonic.startswith("v") or "%ymm" in operands:
        return "avx2"
    return "baseline"


ALLOWED = {
    "baseline": {"baseline"},
    "avx2": {"baseline", "avx2"},
    "avx512": {"baseline", "avx2", "avx512"},
    "avx512_bf16": {"baseline", "avx2", "avx512", "avx512_bf16"},
}


def _scan(listing: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """(functions using instructions above their tier → the first such, every (tier, set) seen)."""
    function, tier, seen, leaks = "", "baseline", set(), {}
    for line in listing.splitlines():
        header = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if header:
            function, tier = header.group(1), _tier(header.group(1))
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not function:
            continue
        mnemonic, _, operands = fields[1].strip().partition(" ")
        used = _instruction_set(mnemonic, operands)
        seen.add((tier, used))
        if used not in ALLOWED[tier]:
            leaks.setdefault(function, f"{tier} function uses {used}: {fields[1].strip()}")
    return leaks, seen


def test_the_scan_finds_instructions_above_their_tier():
    listing = "\n".join([
        "0000000000001000 <std::vector<float>::_M_default_append(unsigned long)>:",
        "    1000:\tvmovups %ymm0,(%rax)",
        "0000000000002000 <dann::cpu::avx2::grl_backward<float>(float const*, float*, long, double)>:",
        "    2000:\tvfmadd231ps %ymm1,%ymm2,%ymm3",
        "    2004:\tvpternlogd $0xff,%ymm1,%ymm1,%ymm1",
        "0000000000003000 <_ZN2at8internal15invoke_parallelIZN4dann3cpu6avx51212grl_backwardIfEE._omp_fn.0>:",
        "    3000:\tvcvtne2ps2bf16 %zmm1,%zmm2,%zmm3",
        "0000000000004000 <dann::cpu::base::grl_backward<float>(float const*, float*, long, double)>:",
        "    4000:\tmulps %xmm1,%xmm0",
    ])
    leaks, _ = _scan(listing)
    assert sorted(leaks.values()) == [
        "avx2 function uses avx512: vpternlogd $0xff,%ymm1,%ymm1,%ymm1",
        "avx512 function uses avx512_bf16: vcvtne2ps2bf16 %zmm1,%zmm2,%zmm3",
        "baseline function uses avx2: vmovups %ymm0,(%rax)",
    ]


@pytest.mark.skipif(not HAS_EXT, reason="dann_core._C is not built")
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="the SIMD tiers are x86-64 only")
@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) is not installed")
def test_no_tier_instruction_outside_its_tier():
    from dann_core import _C

    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", _C.__file__], capture_output=True,
                             text=True, check=True).stdout
    leaks, seen = _scan(listing)
    assert not leaks, "\n".join(f"{name[:160]}: {why}" for name, why in list(leaks.items())[:10])
    # The scan saw what it guards: every tier's kernels are in the library with their instructions.
    assert {("avx2", "avx2"), ("avx512", "avx512"), ("avx512_bf16", "avx512_bf16")} <= seen
