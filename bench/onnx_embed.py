"""Embedding throughput on CPU of one MobileFaceNet (112 x 112, 128-d) as the torch frozen graph and as the same
network exported to ONNX and run by onnxruntime (backbone onnx), with flips, on --faces random faces.

Both are the pipeline's embed stage as rule embed runs it, `embed.embed_store`, timed whole (graph freezing, or
onnxruntime's session, is part of the stage): the torch model in --threads streams of one thread each, the ONNX model
in one stream of onnxruntime with --threads intra-op threads (models/onnx_backbone.py says why). The ONNX model is
exported here (torch.onnx.export, TorchScript exporter, symbolic batch axis) and imported through
`facebench import-weights`, as a published ONNX file would be. --rounds rounds, their order alternating, so both see
the same machine; each records the CPU share other processes took (this project's VMs are shared). Headline figures:
each runtime's best round, and the largest absolute difference between the two runtimes' features (and flipped).
Weights: the pretrained MobileFaceNet of ../shared where present, else random ones whose batch norms hold the
statistics of random inputs (features of unit scale, so the difference means something); the result says which.
Writes results/bench/onnx_embed.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from _common import SHARED, write
from embed_throughput import Load
from facebench import align, runtime
from facebench.cli import main as facebench
from facebench.embed import embed_store
from facebench.io import load_npz
from facebench.models import build
from facebench.models.checkpoint import save_model
from facebench.models.convert import import_checkpoint
from PIL import Image

WEIGHTS = SHARED / "weights" / "pretrained" / "mobilefacenet_arcface_casia_112x112.pth"
SPEC = {"template": "arcface112", "channels": "rgb", "mean": [0.5] * 3, "std": [0.5] * 3}


def random_store(root: Path, n: int) -> None:
    """n distinct 150 px photos (smooth random patterns), centre-cropped into an arcface112 store."""
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        name = f"P{i % 10}/P{i % 10}_{i:04d}.jpg"
        (root / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
        Image.fromarray(small).resize((150, 150), Image.BILINEAR).save(root / "images" / name, quality=90)
        names.append(name)
    align.build_store(root / "images", names, root / "store", tpl=align.template("arcface112"), method="center",
                      frame=(150, 150))


def mobilefacenet() -> tuple[torch.nn.Module, str]:
    model = build("mobilefacenet")
    if WEIGHTS.is_file():
        import_checkpoint(WEIGHTS, model, {"key_prefix": "arcface."})
        return model.eval(), f"pretrained ({WEIGHTS.name})"
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(32, 3, 112, 112))
    return model.eval(), "random, batch-norm statistics of random inputs"


def onnx_model_file(model: torch.nn.Module, tmp: Path) -> Path:
    source = tmp / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 3, 112, 112),), str(source), dynamo=False, input_names=["faces"],
                          output_names=["features"], dynamic_axes={"faces": {0: "n"}, "features": {0: "n"}},
                          opset_version=17)
    spec = {"backbone": "onnx", "input": SPEC,
            "weights": {"path": str(source), "sha256": hashlib.sha256(source.read_bytes()).hexdigest()}}
    code = facebench(["import-weights", "mobilefacenet_onnx", "--spec", json.dumps(spec), "--source", str(source),
                      "--out", str(tmp / "onnx.pt")])
    if code:
        raise SystemExit(f"import-weights failed ({code})")
    return tmp / "onnx.pt"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--faces", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    runtime.keep_freed_memory()
    runtime.set_threads(args.threads)
    model, weights = mobilefacenet()
    runs = {"torch": [], "onnxruntime": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        random_store(tmp, args.faces)
        save_model(tmp / "torch.pt", model, backbone="mobilefacenet", backbone_args={}, input_spec=SPEC)
        files = {"torch": tmp / "torch.pt", "onnxruntime": onnx_model_file(model, tmp)}
        for r in range(args.rounds):
            for which in (("torch", "onnxruntime") if r % 2 == 0 else ("onnxruntime", "torch")):
                with Load() as load:
                    meta = embed_store(files[which], tmp / "store", tmp / f"{which}.npz", batch_size=args.batch_size)
                runs[which].append({"round": r, "seconds": meta["seconds"],
                                    "images_per_second_with_flip": meta["images_per_second_with_flip"],
                                    "graph": meta["graph"], "streams": meta["streams"],
                                    "others_cpu_share": load.others, "cpu_steal_share": load.steal})
                print(which, runs[which][-1], flush=True)
        a, b = load_npz(tmp / "torch.npz"), load_npz(tmp / "onnxruntime.npz")
        diff = max(float(np.abs(a["features"] - b["features"]).max()),
                   float(np.abs(a["features_flip"] - b["features_flip"]).max()))
        scale = float(np.abs(a["features"]).max())
        onnx_bytes = (tmp / "model.onnx").stat().st_size
    best = {k: max(v, key=lambda x: x["images_per_second_with_flip"]) for k, v in runs.items()}
    write("onnx_embed", {
        "model": "mobilefacenet 112x112, 128-d", "weights": weights, "faces": args.faces, "flip": True,
        "threads": args.threads, "batch_size": args.batch_size, "rounds": args.rounds,
        "onnx_file_bytes": onnx_bytes, "versions": {"torch": torch.__version__,
                                                    "onnxruntime": __import__("onnxruntime").__version__},
        "torch_frozen": best["torch"], "onnxruntime": best["onnxruntime"],
        "onnxruntime_over_torch": round(best["onnxruntime"]["images_per_second_with_flip"]
                                        / best["torch"]["images_per_second_with_flip"], 2),
        "max_abs_feature_difference": diff, "max_abs_feature": round(scale, 4),
        "runs": runs,
    })


if __name__ == "__main__":
    main()
