"""The AMP dtype config key ``train.amp`` resolves to on a device."""
from __future__ import annotations

import torch


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
