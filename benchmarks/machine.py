"""The CPU a measurement ran on, as the speed tables and the learning runs' records name it."""

import platform
from pathlib import Path

import torch as th

ISA_FEATURES = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
BFLOAT16_FEATURES = ("avx512_bf16", "amx_bf16")  # a CPU with native bfloat16 matrix products has one of them


def has_native_bfloat16(description: str) -> bool:
    """:return: whether a CPU named by :func:`cpu_description` has native bfloat16 matrix products"""
    return any(feature in description for feature in BFLOAT16_FEATURES)


def cpu_description() -> str:
    """:return: the CPU model, the instruction-set features among ``ISA_FEATURES`` it has, and torch's CPU capability"""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    found = [feature for feature in ISA_FEATURES if feature in flags] or ["none of " + ", ".join(ISA_FEATURES)]
    return f"{model} ({', '.join(found)}; torch CPU capability {th.backends.cpu.get_cpu_capability()})"
