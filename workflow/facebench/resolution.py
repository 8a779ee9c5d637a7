"""Resolution degradation (HR -> LR -> HR), one operation for training batches and for whole stores: a face shrunk to
``size`` px on its longer side and enlarged back (the resolution seed's degraded faces)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from facebench.io import atomic_path, read_json, write_json
from facebench.models.inputs import resize
from facebench.store import open_faces, reserve


def degrade(x: torch.Tensor, size: int, p: float, gen: torch.Generator) -> torch.Tensor:
    """With probability p per face, shrink the face to ``size`` px (longer side) and enlarge it back; float
    N x H x W x 3."""
    n, h, w, _ = x.shape
    pick = (torch.rand(n, generator=gen) < p).to(x.device)
    if not pick.any():
        return x
    scale = size / max(h, w)
    small = (max(1, round(h * scale)), max(1, round(w * scale)))
    img = x[pick].permute(0, 3, 1, 2)
    low = resize(resize(img, small), (h, w)).permute(0, 2, 3, 1)
    out = x.clone()
    out[pick] = low
    return out


def degrade_store(source_dir: str | Path, out_dir: str | Path, size: int, chunk: int = 256) -> dict:
    """A store of the source store's faces degraded to ``size`` px, with the source's index: ``degrade`` at p = 1, so
    a degraded store and degraded training batches are the same operation."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    src_summary = read_json(source_dir / "summary.json")
    faces = open_faces(source_dir)
    if not 1 <= size < max(faces.shape[1:3]):
        raise ValueError(f"degrade size {size} must be between 1 and the store's face size {faces.shape[1:3]}")
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)  # p = 1 draws nothing that matters; the generator is the API's
    with atomic_path(out_dir / "faces.npy", suffix=".npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=faces.shape)
        reserve(tmp)
        for lo in range(0, len(faces), chunk):
            x = torch.from_numpy(np.array(faces[lo:lo + chunk])).float()  # a copy: the memory map is read-only
            out[lo:lo + chunk] = degrade(x, size, 1.0, gen).round().clamp(0, 255).to(torch.uint8).numpy()
        out.flush()
        del out
    with atomic_path(out_dir / "index.tsv", suffix=".tsv") as tmp:
        tmp.write_bytes((source_dir / "index.tsv").read_bytes())
    summary = {**src_summary, "method": "degrade", "degrade": {"size": int(size), "source": str(source_dir),
                                                               "source_method": src_summary["method"]}}
    write_json(out_dir / "summary.json", summary)
    return summary
