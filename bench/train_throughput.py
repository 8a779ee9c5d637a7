"""Training throughput per backbone (images/s of a whole SGD step: forward, loss, backward, update) and the data
loader alone (store gather + augmentation + input preparation), on CPU here and on a GPU when one is present.

The loader is measured on a store of real LFW faces (aligned with the provided landmarks) built for the bench; the
step on random input of the backbone's size (the step's cost does not depend on the pixels). The issue's rule: the
loader must sustain at least 10x the step's throughput, so an accelerator never waits on data.
Writes results/bench/train_throughput.json.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import SHARED, cpu_ticks, steal_share, write
from facebench import align, landmarks, losses, runtime, store
from facebench.models import build
from facebench.models.inputs import to_model_input
from facebench.train.augment import augment
from facebench.train.precision import cpu_native_bf16

LFW = SHARED / "lfw"
LANDMARKS = LFW / "lfw_landmark_250px.txt"
AUGMENT = {"flip": True, "brightness": 0.2, "grayscale": 0.1, "rotation": 10}
SPEC = {"channels": "rgb", "mean": [0.5] * 3, "std": [0.5] * 3}

# (name, backbone, args, template, input size): the backbones of issue 4 at the sizes the seeds train them
BACKBONES = [
    ("sphere20", "sphere20", {"embedding_size": 512}, "sphereface96x112", (112, 96)),
    ("sphere20-bn", "sphere20", {"embedding_size": 512, "batch_norm": True}, "sphereface96x112", (112, 96)),
    ("mobilefacenet", "mobilefacenet", {"embedding_size": 128}, "arcface112", (112, 112)),
    ("iresnet50-se", "iresnet", {"embedding_size": 512, "depth": 50, "se": True}, "arcface112", (112, 112)),
    ("irse8", "irse8", {"embedding_size": 128}, "arcface112", (112, 112)),
    ("resnet18", "resnet18", {"embedding_size": 512}, "arcface112", (112, 112)),
    ("resnet50", "resnet50", {"embedding_size": 512}, "arcface112", (112, 112)),
]


def step_rate(backbone, args, size, device, batch, steps, amp):
    torch.manual_seed(0)
    model = build(backbone, input_size=size, **args).to(device).train()
    head = losses.build("cosface", model.embedding_size, 1000).to(device)
    opt = torch.optim.SGD(list(model.parameters()) + list(head.parameters()), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, *size, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    dtype = torch.bfloat16 if amp else None

    def one():
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            emb = model(x)
        loss = head(emb.float(), y).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):  # warm-up: allocator, oneDNN/cuDNN kernel choice
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def loader_rate(store_dir, size, batch, batches, device):
    faces = store.open_faces(store_dir)
    rng = np.random.default_rng(0)
    spec = {**SPEC, "size": list(size)}
    t0 = time.perf_counter()
    for b in range(batches):
        idx = rng.choice(len(faces), batch, replace=False)
        x = torch.from_numpy(faces[idx]).to(device)
        x = to_model_input(augment(x, AUGMENT, torch.Generator().manual_seed(b)), spec)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * batches / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per backbone (CPU)")
    ap.add_argument("--images", type=int, default=1000, help="LFW faces in the loader's store")
    ap.add_argument("--only", nargs="*", help="backbone names to run (default: all)")
    ap.add_argument("--keep-denormals", action="store_true", help="measure without flush-to-zero (for comparison)")
    args = ap.parse_args()
    runtime.keep_freed_memory()
    runtime.set_threads(args.threads)
    flushed = runtime.flush_denormals() if not args.keep_denormals else False  # as `facebench train` runs
    device = runtime.pick_device("auto")
    steps = args.steps if device.type == "cpu" else 20
    batch = args.batch_size if device.type == "cpu" else 256
    # bf16 autocast on a CPU only where it runs in hardware (AMX, AVX-512 BF16): emulated it is several times slower
    native_bf16 = cpu_native_bf16()
    cpu_bf16 = device.type == "cpu" and native_bf16
    names = sorted(p.name for p in (LFW / "images").iterdir())[:400]
    images = sorted(f"{n}/{f.name}" for n in names for f in (LFW / "images" / n).iterdir())[:args.images]
    table, _ = landmarks.from_provided(landmarks.read(LANDMARKS), (250, 250), LFW / "images", images)
    results = {}
    before = cpu_ticks()
    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        for tpl in ("sphereface96x112", "arcface112"):
            stores[tpl] = Path(tmp) / tpl
            align.build_store(LFW / "images", images, stores[tpl], tpl=align.template(tpl), method="landmarks",
                              landmarks=table, threads=args.threads)
        for name, backbone, bargs, tpl, size in BACKBONES:
            if args.only and name not in args.only:
                continue
            row = {"backbone": backbone, "args": bargs, "input_size": list(size), "batch_size": batch}
            row["step_images_per_second"] = round(step_rate(backbone, bargs, size, device, batch, steps, False), 2)
            if device.type == "cuda" or cpu_bf16:
                row["step_images_per_second_amp_bf16"] = round(
                    step_rate(backbone, bargs, size, device, batch, steps, True), 2)
            row["loader_images_per_second"] = round(loader_rate(stores[tpl], size, batch, 20, device), 1)
            fastest = max(v for k, v in row.items() if k.startswith("step_images"))
            row["loader_over_step"] = round(row["loader_images_per_second"] / fastest, 1)
            results[name] = row
            print(name, row, flush=True)
    write("train_throughput" + ("-denormals" if args.keep_denormals else ""), {
        "device": str(device), "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
        "cpu_native_bf16": native_bf16,
        "threads": args.threads, "flush_denormals": flushed, "augment": AUGMENT, "timed_steps": steps,
        "backbones": results,
        "loader_rule": "loader_images_per_second >= 10 x step_images_per_second",
        "loader_rule_met": all(r["loader_over_step"] >= 10 for r in results.values()),
        "published_gpu_reference": {"mobilefacenet_fp16_v100": 1280, "sphere20": 1420},
        "cpu_steal_share": steal_share(before, cpu_ticks()),
    })


if __name__ == "__main__":
    main()
