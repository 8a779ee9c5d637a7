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


def save_state(path, *, digest: str, step: int, model, head, optimizer, scaler=None,
               resolved: dict | None = None) -> None:
    """``resolved``: what ``device``/``amp`` resolved to in this run ({"device": "cuda", "amp": "bfloat16"}); the
    spec digest holds only what config says (``auto``), so the state keeps it for the resume to check."""
    payload = {"format": FORMAT, "version": VERSION, "spec_digest": digest, "step": int(step),
               "model": model.state_dict(), "head": head.state_dict(), "optimizer": optimizer.state_dict(),
               "scaler": scaler.state_dict() if scaler is not None else {}}
    if resolved is not None:
        payload["resolved"] = {k: str(v) for k, v in resolved.items()}
    save_payload(path, payload)


def check_resolved(path, state: dict, resolved: dict | None) -> None:
    """Refuse to resume a state made on another device type or AMP dtype than this run resolved to (an fp16 state's
    gradient scaler would be dropped under bf16, a CPU run would go on in GPU arithmetic). A state from before this
    record (no ``resolved`` in it) resumes as it always did."""
    saved = state.get("resolved")
    if saved is None or resolved is None:
        return
    mine = {k: str(v) for k, v in resolved.items()}
    differ = [k for k in sorted(set(saved) | set(mine)) if saved.get(k) != mine.get(k)]
    if differ:
        what = "; ".join(f"{k}: the state has {saved.get(k)!r}, this run {mine.get(k)!r}" for k in differ)
        raise CheckpointError(f"{path}: cannot resume across devices or precisions ({what}). Resume it where "
                              "train.device and train.amp resolve as they did, set them to the state's values, or "
                              "delete the file to start the run afresh")


def load_state(path, digest: str, resolved: dict | None = None) -> dict | None:
    """The saved state if ``path`` holds one for this spec; None if there is none or it belongs to another spec.
    A state of this spec made on another device type or AMP dtype (``resolved``) is an error (``check_resolved``)."""
    path = Path(path)
    if not path.exists():
        return None
    state = load_weights_only(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("version") != VERSION:
        raise CheckpointError(f"{path}: not a {FORMAT} v{VERSION} file; delete it to start the run afresh")
    if state.get("spec_digest") != digest:
        return None
    check_resolved(path, state, resolved)
    return state
