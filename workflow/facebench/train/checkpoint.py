"""The training state on disk: written atomically every N steps and on SIGTERM/SIGINT, loaded weights-only.

A state file holds tensors, numbers and strings only (model, head, optimizer, AMP scaler, step), so
``torch.load(weights_only=True)`` reads it. It carries the digest of the training spec it was made with: a state from
another spec is never resumed.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from facebench.models.checkpoint import save_payload
from facebench.weights import CheckpointError, load_weights_only

FORMAT = "facebench-train-state"
VERSION = 1


def spec_digest(spec: dict) -> str:
    """sha256 of the spec as canonical JSON: what makes two runs the same run."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def save_state(path, *, digest: str, step: int, model, head, optimizer, scaler=None) -> None:
    payload = {"format": FORMAT, "version": VERSION, "spec_digest": digest, "step": int(step),
               "model": model.state_dict(), "head": head.state_dict(), "optimizer": optimizer.state_dict(),
               "scaler": scaler.state_dict() if scaler is not None else {}}
    save_payload(path, payload)


def load_state(path, digest: str) -> dict | None:
    """The saved state if ``path`` holds one for this spec; None if there is none or it belongs to another spec."""
    path = Path(path)
    if not path.exists():
        return None
    state = load_weights_only(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("version") != VERSION:
        raise CheckpointError(f"{path}: not a {FORMAT} v{VERSION} file; delete it to start the run afresh")
    if state.get("spec_digest") != digest:
        return None
    return state
