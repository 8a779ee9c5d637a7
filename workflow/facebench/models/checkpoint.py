"""The project's model file: weights plus what is needed to rebuild the network, loadable weights-only.

A model file is a plain dict of tensors, strings and numbers (``torch.save``), so ``torch.load(weights_only=True)``
reads it and a file that smuggles a pickled object with code is refused.

A trained model also carries its loss head's class weights under ``head`` (``loss``: the classifier's registered
name, ``embedding_size``, ``num_classes``, ``identities``: the class names in index order, ``state_dict``), so a
fine-tuning run can start its classifier from them; imported weights and files written before have none.
"""
from __future__ import annotations

import io

import torch

from facebench.io import atomic_path
from facebench.models.registry import build
from facebench.weights import CheckpointError, load_weights_only

FORMAT = "facebench-model"
VERSION = 1


def _cpu_state(module: torch.nn.Module) -> dict:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_model(path, model: torch.nn.Module, *, backbone: str, backbone_args: dict, input_spec: dict,
               meta: dict | None = None, head: dict | None = None) -> None:
    """``head``, if given: the classifier's ``loss``, ``embedding_size``, ``num_classes``, ``identities`` and its
    ``module`` (whose weights are stored)."""
    payload = {"format": FORMAT, "version": VERSION, "backbone": backbone, "backbone_args": dict(backbone_args),
               "input": dict(input_spec), "meta": dict(meta or {}), "state_dict": _cpu_state(model)}
    if head is not None:
        payload["head"] = {**{k: v for k, v in head.items() if k != "module"}, "state_dict": _cpu_state(head["module"])}
    save_payload(path, payload)


def save_payload(path, payload: dict) -> None:
    """``torch.save`` of ``payload`` onto ``path``, atomically. Serialised in memory first, then written with a plain
    write: torch's own file writer reports a full disk as an opaque 'unexpected pos' RuntimeError, a plain write as
    the OSError that ``atomic_path`` turns into a DiskFullError naming the file."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path, suffix=".pt") as tmp:
        tmp.write_bytes(buffer.getbuffer())


def load_model(path) -> tuple[torch.nn.Module, dict]:
    """Rebuild the network of a model file; returns (model in eval mode, the file's metadata without weights)."""
    payload = load_weights_only(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} file")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: model file version {payload.get('version')}, this code reads {VERSION}")
    model = build(payload["backbone"], **payload["backbone_args"])
    model.load_state_dict(payload["state_dict"], strict=True)
    model.eval()
    info = {k: v for k, v in payload.items() if k not in ("state_dict", "head")}
    return model, info


def load_head(path) -> dict | None:
    """The loss head a model file carries (see the module's doc), or None for a file without one."""
    payload = load_weights_only(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} file")
    return payload.get("head")
