"""Loading a torch file weights-only, one way for every checkpoint the project reads (models, training states, MTCNN):
``torch.load(weights_only=True)`` unpickles only tensors and plain data, so a file that carries code is refused.
torch is imported when a file is loaded, not with this module.
"""
from __future__ import annotations

import re
from pathlib import Path


class CheckpointError(ValueError):
    pass


def load_weights_only(path) -> dict:
    """``torch.load`` with weights_only=True; a refused or broken file raises CheckpointError naming it."""
    import torch

    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError... all mean "not usable"
        raise CheckpointError(f"{path}: refused by weights-only loading or unreadable ({type(err).__name__}: "
                              f"{_reason(err)})") from err


def _reason(err: Exception) -> str:
    """torch's reason in one line, without terminal escapes: for a refused file, what it holds that is not plain data
    ('Unsupported global: GLOBAL exec ...', without torch's advice on how to allow it), else the first line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    for line in text.splitlines():
        if "WeightsUnpickler error:" in line:
            return line.split("WeightsUnpickler error:", 1)[1].split(". Please use", 1)[0].strip()
    return text.splitlines()[0] if text else ""
