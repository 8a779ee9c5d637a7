"""The AMP dtype config key ``train.amp`` resolves to on a device."""
from __future__ import annotations

from pathlib import Path

import torch

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # the x86 CPU features that compute bf16 in hardware


def cpu_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bf16 in hardware (AMX or AVX-512 BF16), from its feature flags.

    Why not ``torch.ops.mkldnn._is_mkldnn_bf16_supported()``: a private op, and it also answers yes on AVX-512 CPUs
    that only emulate bf16. Where the flags cannot be read (not Linux, not x86), the answer is no."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return any(f in flags for f in CPU_BF16_FLAGS)


def native_bf16() -> bool:
    """Whether the current GPU computes bf16 in hardware (compute capability 8.0 and up: A100, H100, RTX 30xx on).

    Why not ``torch.cuda.is_bf16_supported()``: by default it also counts emulation (V100, T4, P100), where bf16 runs
    slower than fp32; there ``amp: auto`` takes fp16 with the gradient scaler instead."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch without the argument: ask the compute capability
        return torch.cuda.get_device_capability()[0] >= 8


def amp_dtype(amp: str, device: torch.device):
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "auto":
        return torch.bfloat16 if native_bf16() else torch.float16
    if amp == "bf16":  # asked for by name: emulated bf16 is still bf16; none at all falls back to fp16
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16
    if amp == "fp16":
        return torch.float16
    raise ValueError(f"config key train.amp: {amp!r} is not one of auto, off, bf16, fp16")
