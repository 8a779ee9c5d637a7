"""Embedding throughput on CPU for the 7,701 LFW images the View 2 pairs use, with flips, whole stage
(JPEG decode + alignment with the provided landmarks + forward of the face and its mirror image).

Baseline: a straightforward fp32 eager loop (decode, align, eager forward of [face, flipped face] in batches of 32),
timed on --baseline-images of the same images (its per-image rate is what matters; ~28 images/s in issue 2).
Ours: the pipeline's two stages, `align.build_store` then `embed.embed_store` (frozen TorchScript, fp32).
Both run in this process, one after the other, so they see the same machine; the machine's steal time is recorded.
Also checks that our features equal the eager model's (fp32 both: no accuracy can move).
Writes results/bench/embed_throughput.json.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import SHARED, cpu_ticks, steal_share, write
from facebench import align, landmarks, runtime
from facebench.data.lfw import read_pairs
from facebench.embed import embed_store, preprocess
from facebench.images import load_rgb
from facebench.io import load_npz
from facebench.models import build
from facebench.models.checkpoint import save_model
from facebench.models.convert import import_checkpoint

LFW = SHARED / "lfw"
WEIGHTS = SHARED / "weights" / "pretrained" / "mobilefacenet_arcface_casia_112x112.pth"
SPEC = {"template": "arcface112", "channels": "rgb", "mean": [0.5] * 3, "std": [0.5] * 3}


def eager_baseline(model, names, table, tpl, batch=32):
    feats = []
    t0 = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, len(names), batch):
            faces = np.stack([align.align(load_rgb(LFW / "images" / n)[0], table[n].points, tpl)
                              for n in names[lo:lo + batch]])
            x = preprocess(faces, SPEC)
            out = model(torch.cat([x, x.flip(3)]))
            feats.append(out[:len(x)].numpy())
    return time.perf_counter() - t0, np.concatenate(feats)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--baseline-images", type=int, default=640)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    runtime.keep_freed_memory()
    runtime.set_threads(args.threads)
    pairs = read_pairs(LFW / "pairs.txt")
    names = sorted({x for p in pairs for x in (p.path1, p.path2)})
    table, _ = landmarks.from_provided(LFW / "lfw_landmark_250px.txt", (250, 250), LFW / "images", names)
    tpl = align.template("arcface112")
    model = build("mobilefacenet").eval()
    import_checkpoint(WEIGHTS, model, key_prefix="arcface.")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        save_model(tmp / "m.pt", model, backbone="mobilefacenet", backbone_args={}, input_spec=SPEC)
        before = cpu_ticks()
        t0 = time.perf_counter()
        align.build_store(LFW / "images", names, tmp / "store", tpl=tpl, method="landmarks", landmarks=table,
                          threads=args.threads)
        t_align = time.perf_counter() - t0
        t0 = time.perf_counter()
        embed_store(tmp / "m.pt", tmp / "store", tmp / "emb.npz", batch_size=args.batch_size)
        t_embed = time.perf_counter() - t0
        steal_ours = steal_share(before, cpu_ticks())
        ours = load_npz(tmp / "emb.npz")
    sub = names[:args.baseline_images]
    before = cpu_ticks()
    t_base, base_feats = eager_baseline(model, sub, table, tpl)
    steal_base = steal_share(before, cpu_ticks())
    a = ours["features"][:len(sub)]
    cos = np.sum(a * base_feats, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(base_feats, axis=1))
    n = len(names)
    ours_rate = n / (t_align + t_embed)
    base_rate = len(sub) / t_base
    write("embed_throughput", {
        "images": n, "threads": args.threads, "batch_size": args.batch_size, "flip": True,
        "ours": {"align_seconds": round(t_align, 2), "embed_seconds": round(t_embed, 2),
                 "images_per_second": round(ours_rate, 2), "cpu_steal_share": steal_ours},
        "baseline_fp32_eager": {"images": len(sub), "seconds": round(t_base, 2),
                                "images_per_second": round(base_rate, 2), "cpu_steal_share": steal_base},
        "speedup": round(ours_rate / base_rate, 2),
        "target_images_per_second": 60, "reference_baseline_images_per_second": 28,
        "target_speedup_equivalent": round(60 / 28, 2),
        "precision": "fp32 (no reduced precision: LFW accuracy cannot move)",
        "min_cosine_ours_vs_eager": float(cos.min()),
    })


if __name__ == "__main__":
    main()
