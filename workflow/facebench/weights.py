"""Loading a torch file weights-only, one way for every checkpoint the project reads (models, training states, MTCNN):
``torch.load(weights_only=True)`` unpickles only tensors and plain data, so a file that carries code is refused.
torch is imported when a file is loaded, not with this module. ``open_container`` finds the state dict inside a
loaded file, a torch one or the torch-free view of one (facebench.safe_pickle) that config validation reads.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

SHOWN = 8  # keys, or table rows, an error lists before "... and N more"


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


class ConversionError(ValueError):
    """A checkpoint that does not fit its model or its config (models.convert raises it too)."""


def listing(keys, limit: int = SHOWN) -> str:
    keys = list(keys)
    text = ", ".join(repr(k) for k in keys[:limit])
    return f"[{text}{f', ... ({len(keys)} in all)' if len(keys) > limit else ''}]"


def open_container(loaded, container: str | None, where: str, origin: str) -> tuple[Mapping, str | None]:
    """(the state dict inside ``loaded``, the container path used or None for the file itself)."""
    if container is None:  # the automatic default
        if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
            return loaded["state_dict"], "state_dict"
        if not isinstance(loaded, Mapping):
            raise ConversionError(f"{origin}: expected a state dict, found {type(loaded).__name__}")
        return loaded, None
    if not isinstance(loaded, Mapping):
        raise ConversionError(f"{origin}: config key {where}.container: {container!r}: the file holds a "
                              f"{type(loaded).__name__}, not a mapping of keys")
    node, parts, walked = loaded, container.split("."), []
    while parts:
        if not isinstance(node, Mapping):
            raise ConversionError(f"{origin}: config key {where}.container: {container!r}: "
                                  f"{'.'.join(walked)!r} is a {type(node).__name__}, not a mapping of keys")
        for n in range(len(parts), 0, -1):  # the longest key first: a key may itself hold dots
            key = ".".join(parts[:n])
            if key in node:
                break
        else:
            inner = (f" ({'.'.join(walked)!r} is there but has no {parts[0]!r}; its keys: {listing(node)})"
                     if walked else "")
            raise ConversionError(f"{origin}: config key {where}.container: {container!r} is not in the file{inner}; "
                                  f"the file's top-level keys: {listing(loaded)}")
        node, walked, parts = node[key], walked + [key], parts[n:]
    if not isinstance(node, Mapping):
        raise ConversionError(f"{origin}: config key {where}.container: {container!r} is a "
                              f"{type(node).__name__}, not a state dict")
    return node, container
