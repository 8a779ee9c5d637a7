"""Features for every face of an aligned-face store, with the horizontally flipped face's features beside them.

Output ``.npz``: ``paths`` (N), ``features`` and ``features_flip`` (N x D float32), ``status`` (the store's align
status per face) and ``meta`` (JSON text). How the two are combined (plain, flip-concat, flip-sum) is chosen at
scoring time, so one embedding pass serves every evaluation variant.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from facebench.align import open_faces, read_index
from facebench.io import read_json, save_npz
from facebench.models.checkpoint import load_model
from facebench.models.inputs import to_model_input

EMBEDDINGS_VERSION = 1


def preprocess(batch: np.ndarray, input_spec: dict) -> torch.Tensor:
    """uint8 N x H x W x 3 RGB -> float N x 3 x h x w, in the model's channel order, size and normalisation."""
    return to_model_input(torch.from_numpy(np.array(batch, dtype=np.uint8, copy=True)), input_spec)


def inference_module(model: torch.nn.Module, device: torch.device, example: torch.Tensor):
    """The network as it runs for embedding: on CPU a frozen TorchScript graph.

    Why frozen on CPU: freezing folds batch norm into the convolutions and keeps oneDNN layouts between layers;
    measured 2-3x the eager throughput for MobileFaceNet on this project's 2-core machines, with identical outputs
    (bench/embed_throughput.py checks the accuracy). On GPU the eager module runs as is.
    """
    model = model.to(device).eval()
    if device.type != "cpu":
        return model
    with torch.inference_mode():
        try:
            return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, example)))
        except RuntimeError as err:  # an op oneDNN cannot take (e.g. uneven adaptive pooling): the eager module
            print(f"embed: frozen graph unavailable ({str(err).splitlines()[0]}); running the eager module",
                  file=sys.stderr)
            return model


def embed_store(model_path: str | Path, store_dir: str | Path, out: str | Path, *, batch_size: int = 16,
                device: torch.device | None = None, images: list[str] | None = None) -> dict:
    from facebench.progress import bar

    device = device or torch.device("cpu")
    model, info = load_model(model_path)
    spec = info["input"]
    store_summary = read_json(Path(store_dir) / "summary.json")
    if store_summary["template"] != spec["template"]:
        raise ValueError(f"{model_path} expects faces aligned to {spec['template']!r}, the store {store_dir} holds "
                         f"{store_summary['template']!r}")
    index = read_index(store_dir)
    faces = open_faces(store_dir)
    rows = np.arange(len(index.paths))
    if images is not None:  # the evaluation's images only (a store may also hold a training set)
        row_of = {p: i for i, p in enumerate(index.paths)}
        missing = [p for p in images if p not in row_of]
        if missing:
            raise KeyError(f"{len(missing)} image(s) to embed are not in the store {store_dir}, e.g. {missing[0]}")
        rows = np.array([row_of[p] for p in images], dtype=np.int64)
    n = len(rows)
    h, w = faces.shape[1:3]
    net = inference_module(model, device, preprocess(np.zeros((batch_size, h, w, 3), np.uint8), spec).to(device))
    feats, feats_flip = [], []
    start = time.perf_counter()
    with torch.inference_mode(), bar(n, "embed") as progress:
        for lo in range(0, n, batch_size):
            x = preprocess(faces[rows[lo:lo + batch_size]], spec).to(device)
            k = len(x)
            if k < batch_size and device.type == "cpu":  # the traced graph is specialised to one batch size
                x = torch.cat([x, x.new_zeros((batch_size - k, *x.shape[1:]))])
            f = net(x)[:k].float().cpu()
            ff = net(x.flip(3))[:k].float().cpu()
            feats.append(f.numpy())
            feats_flip.append(ff.numpy())
            progress.update(k)
    seconds = time.perf_counter() - start
    dim = int(model.embedding_size) if hasattr(model, "embedding_size") else feats[0].shape[1]
    meta = {"version": EMBEDDINGS_VERSION, "model": str(model_path), "store": str(store_dir), "n_images": n, "dim": dim,
            "batch_size": batch_size, "device": str(device), "seconds": round(seconds, 3),
            "images_per_second_with_flip": round(n / seconds, 2) if seconds > 0 else None}
    save_npz(out, paths=np.array(index.paths)[rows], status=np.array(index.status)[rows],
             features=np.concatenate(feats).astype(np.float32) if feats else np.zeros((0, dim), np.float32),
             features_flip=np.concatenate(feats_flip).astype(np.float32) if feats else np.zeros((0, dim), np.float32),
             meta=np.array(json.dumps(meta)))
    return meta
