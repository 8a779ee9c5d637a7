"""Memory layout and cuDNN settings for training on a GPU, chosen on purpose rather than inherited by accident.

The store's faces are N x H x W x 3; ``to_model_input`` permutes them to N x 3 x H x W, which leaves NHWC strides
(channels_last) under an NCHW view, while the model's weights are NCHW: cuDNN then converts one or the other at
every convolution. On CUDA the model and its inputs are both made channels_last (the layout tensor cores take
natively), and ``cudnn.benchmark`` is on: training batches all have one shape, so the algorithm search at the first
step pays off over the run. On CPU nothing changes: no measurement here showed channels_last helping there, and CPU
runs must stay as they were (deterministic, bit for bit across resumes).
"""
from __future__ import annotations

import torch
from torch import nn


def memory_format(device: torch.device) -> torch.memory_format | None:
    """The layout training uses on ``device``: channels_last on CUDA, None (leave tensors as they are) elsewhere."""
    return torch.channels_last if device.type == "cuda" else None


def prepare_model(model: nn.Module, device: torch.device) -> torch.memory_format | None:
    """Put ``model`` in the device's training layout and turn on cuDNN's autotuner on CUDA; returns the layout,
    for ``as_input``."""
    fmt = memory_format(device)
    if fmt is not None:
        model.to(memory_format=fmt)
        # fixed-shape batches (the sampler makes every batch the same size): the autotuner's pick holds all run
        torch.backends.cudnn.benchmark = True
    return fmt


def as_input(x: torch.Tensor, fmt: torch.memory_format | None) -> torch.Tensor:
    """A 4-d model input in the training layout (a no-op copy-free when it already is)."""
    return x if fmt is None else x.contiguous(memory_format=fmt)
