"""Import a published checkpoint into the project's own backbone definition, checking every tensor.

The source state dict's keys are mapped by stripping ``key_prefix`` and applying ``rename`` (old prefix -> new);
every target tensor must be found with exactly the same shape, and no source tensor may be left over.
"""
from __future__ import annotations

import torch

from facebench.weights import load_weights_only


class ConversionError(ValueError):
    pass


def map_state_dict(source: dict, target: dict, key_prefix: str = "", rename: dict | None = None,
                   origin: str = "checkpoint") -> dict:
    rename = rename or {}
    mapped = {}
    for key, value in source.items():
        if not isinstance(value, torch.Tensor):
            raise ConversionError(f"{origin}: entry {key!r} is a {type(value).__name__}, not a tensor")
        if key_prefix:
            if not key.startswith(key_prefix):
                raise ConversionError(f"{origin}: key {key!r} lacks the expected prefix {key_prefix!r}")
            key = key[len(key_prefix):]
        for old, new in rename.items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        mapped[key] = value
    missing = sorted(set(target) - set(mapped))
    unexpected = sorted(set(mapped) - set(target))
    wrong = [f"{k}: checkpoint {tuple(mapped[k].shape)} vs model {tuple(target[k].shape)}"
             for k in sorted(set(mapped) & set(target)) if mapped[k].shape != target[k].shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} model tensor(s) not in the checkpoint: {missing[:8]}")
    if unexpected:
        problems.append(f"{len(unexpected)} checkpoint tensor(s) the model has no place for: {unexpected[:8]}")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatch(es): {wrong[:8]}")
    if problems:
        raise ConversionError(f"{origin}: does not fit the model: " + "; ".join(problems))
    return {k: mapped[k].to(target[k].dtype) for k in target}


def import_checkpoint(path, model: torch.nn.Module, key_prefix: str = "", rename: dict | None = None) -> dict:
    """Load ``path`` weights-only into ``model`` (in place); returns a report of what was mapped."""
    source = load_weights_only(path)
    if isinstance(source, dict) and "state_dict" in source and isinstance(source["state_dict"], dict):
        source = source["state_dict"]
    if not isinstance(source, dict):
        raise ConversionError(f"{path}: expected a state dict, found {type(source).__name__}")
    state = map_state_dict(source, model.state_dict(), key_prefix, rename, origin=str(path))
    model.load_state_dict(state, strict=True)
    return {"tensors": len(state), "parameters": int(sum(v.numel() for v in state.values()))}
