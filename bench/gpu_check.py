"""The prepared GPU check (issue 22): one run on one GPU machine, about 8 minutes, one JSON.

- every registered loss trained 50 steps on CUDA under AMP, bf16 and fp16 with the gradient scaler: all finite;
- training images/s at batch 512 for MobileFaceNet, iresnet50 and sphere20, under bf16 autocast;
- DDP with NCCL across the GPUs present (one process per GPU; 1 is fine);
- embedding images/s (fp32, the embed stage's precision) at the embed stage's GPU batch size (embed.gpu_batch_size,
  or --gpu-batch-size): the forward alone, and the stage's GPU path itself (embed.embed_rows_on_device: uint8 gathered
  into pinned memory ahead of the device, moved as uint8, prepared and mirrored there);
- MTCNN images/s through detect.landmarking.landmark_images (JPEG decode + cascade), with the decoder pool and with
  decoding inline, and whether both gave the same landmarks;
- the data loader alone (store gather + augmentation + input preparation), against the training step;
- peak GPU memory of each part.

Targets on one H100/H200-class GPU: MobileFaceNet training >= 4,000 images/s with AMP, iresnet50 >= 1,500, embedding
>= 10,000 images/s, the loader >= 10x the step. `--dry-run` runs every part on the CPU at toy sizes, so the script
cannot rot in CI; its figures are then marked as not measured. Writes results/bench/gpu_check.json (or
gpu_check-dry-run.json).
"""
from __future__ import annotations

import argparse
import datetime
import os
import socket
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp
from _common import SHARED, write
from facebench import losses, runtime, schema
from facebench.embed import embed_rows_on_device
from facebench.models import build
from facebench.models.inputs import to_model_input
from facebench.train import distributed
from facebench.train.augment import augment

# the DDP part's own limit, inside the script's 480 s: a hang is recorded as its error and the JSON is still written
DDP_DEADLINE_S = 120
TARGETS = {"mobilefacenet_train_amp": 4000, "iresnet50_train_amp": 1500, "embed": 10000, "loader_over_step": 10}
# (name, backbone, args, input size): the three of the issue at the sizes the field trains them
BACKBONES = [
    ("mobilefacenet", "mobilefacenet", {"embedding_size": 128}, (112, 112)),
    ("iresnet50", "iresnet", {"embedding_size": 512, "depth": 50}, (112, 112)),
    ("sphere20", "sphere20", {"embedding_size": 512}, (112, 96)),
]
SPEC = {"channels": "rgb", "mean": [0.5] * 3, "std": [0.5] * 3}
AUGMENT = {"flip": True, "brightness": 0.2, "grayscale": 0.1, "rotation": 10}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_reset(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device):
    return round(torch.cuda.max_memory_allocated() / 2**30, 3) if device.type == "cuda" else None


def labels_pk(batch: int, k: int, device) -> torch.Tensor:
    """P identities x K images each, as the PK sampler feeds the pair losses (and fine for the classifiers)."""
    return torch.arange(batch // k, device=device).repeat_interleave(k)


def train_losses(device, dtypes, steps, batch, size) -> dict:
    """Each loss on a small backbone for `steps` steps under each AMP dtype: finite losses or the error."""
    out = {}
    for name in losses.names():
        for dtype in dtypes:
            key = f"{name}/{str(dtype).removeprefix('torch.')}"
            try:
                torch.manual_seed(0)
                model = build("irse8", input_size=size, embedding_size=64).to(device).train()
                classes = batch // 4
                head = losses.build(name, 64, classes).to(device)
                params = list(model.parameters()) + list(head.parameters())
                opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
                scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
                x = torch.randn(batch, 3, *size, device=device)
                y = labels_pk(batch, 4, device)
                values, skipped = [], 0
                for _ in range(steps):
                    with torch.autocast(device.type, dtype=dtype):
                        emb = model(x)
                    loss = head(emb, y).loss
                    opt.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    scale = scaler.get_scale() if scaler.is_enabled() else None
                    scaler.step(opt)
                    scaler.update()
                    skipped += int(scale is not None and scaler.get_scale() < scale)  # an overflow skips the step
                    values.append(loss.detach())
                values = torch.stack(values).float().cpu().numpy()
                out[key] = {"finite": bool(np.isfinite(values).all()), "first": float(values[0]),
                            "last": float(values[-1]), "steps": steps, "scaler_skipped_steps": skipped}
            except Exception as e:  # a loss that fails is recorded with its error, and the check fails
                out[key] = {"finite": False, "error": f"{type(e).__name__}: {e}",
                            "where": traceback.format_exc(limit=-2)}
            print(key, out[key], flush=True)
    return out


def step_rate(backbone, args, size, device, batch, steps, dtype) -> dict:
    torch.manual_seed(0)
    peak_reset(device)
    model = build(backbone, input_size=size, **args).to(device).train()
    model = model.to(memory_format=torch.channels_last)
    head = losses.build("arcface", model.embedding_size, 10000).to(device)
    opt = torch.optim.SGD(list(model.parameters()) + list(head.parameters()), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, *size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10000, (batch,), device=device)

    def one():
        with torch.autocast(device.type, dtype=dtype):
            emb = model(x)
        loss = head(emb, y).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3 if device.type == "cuda" else 1):  # warm-up: allocator, cuDNN kernel choice (CPU: emulated bf16)
        one()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    sync(device)
    return {"images_per_second": round(batch * steps / (time.perf_counter() - t0), 1), "batch_size": batch,
            "amp": str(dtype).removeprefix("torch."), "peak_gib": peak_gib(device)}


def embed_rate(device, batch, batches) -> dict:
    """MobileFaceNet forward in fp32 (the embed stage's precision, TF32 off) from uint8 faces moved to the device."""
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    peak_reset(device)
    model = build("mobilefacenet", input_size=(112, 112), embedding_size=128).to(device).eval()
    faces = torch.randint(0, 256, (batch, 112, 112, 3), dtype=torch.uint8)
    spec = {**SPEC, "size": [112, 112]}
    with torch.inference_mode():
        for i in range(batches + 2):
            if i == 2:
                sync(device)
                t0 = time.perf_counter()
            x = to_model_input(faces.to(device, non_blocking=True), spec)
            model(x)
        sync(device)
    return {"images_per_second": round(batch * batches / (time.perf_counter() - t0), 1), "batch_size": batch,
            "precision": "fp32 (TF32 off)", "peak_gib": peak_gib(device)}


def embed_stage_rate(device, batch, n_faces) -> dict:
    """The embed stage's GPU path on a store-like uint8 array: images/s counts faces (a face and its mirror: two
    forwards each), so it is about half the forward's rate when the loaders keep up."""
    peak_reset(device)
    model = build("mobilefacenet", input_size=(112, 112), embedding_size=128).to(device).eval()
    faces = np.random.default_rng(1).integers(0, 256, (n_faces, 112, 112, 3), dtype=np.uint8)
    rows = np.arange(n_faces)
    spec = {**SPEC, "size": [112, 112]}
    with runtime.ieee_fp32(device) as precision:
        if device.type == "cuda":  # warm-up: allocator, cuDNN kernel choice (nothing to warm on the CPU)
            embed_rows_on_device(model, faces, rows[:2 * batch], spec, batch_size=batch, device=device)
        sync(device)
        t0 = time.perf_counter()
        feats, feats_flip = embed_rows_on_device(model, faces, rows, spec, batch_size=batch, device=device)
        seconds = time.perf_counter() - t0
    return {"images_per_second": round(n_faces / seconds, 1), "forwards_per_second": round(2 * n_faces / seconds, 1),
            "faces": n_faces, "batch_size": batch, "precision": precision, "peak_gib": peak_gib(device),
            "finite": bool(np.isfinite(feats).all() and np.isfinite(feats_flip).all())}


def loader_rate(device, batch, batches, store_images) -> dict:
    """The loader's work per batch on uint8 faces in memory: gather, copy, augment, normalise (no disk)."""
    faces = np.random.default_rng(0).integers(0, 256, (store_images, 112, 112, 3), dtype=np.uint8)
    spec = {**SPEC, "size": [112, 112]}
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for b in range(batches):
        idx = np.sort(rng.choice(len(faces), batch, replace=False))
        x = torch.from_numpy(faces[idx]).to(device)
        to_model_input(augment(x, AUGMENT, torch.Generator().manual_seed(b)), spec)
    sync(device)
    return {"images_per_second": round(batch * batches / (time.perf_counter() - t0), 1), "batch_size": batch}


def mtcnn_images(root: Path, n: int) -> tuple[Path, list[str]]:
    """The first n LFW images where the shared data is, else n random 250 px JPEGs written under root."""
    lfw = SHARED / "lfw" / "images"
    names = sorted(p.relative_to(lfw).as_posix() for p in lfw.glob("*/*.jpg"))[:n] if lfw.is_dir() else []
    if len(names) == n:
        return lfw, names
    from PIL import Image

    rng = np.random.default_rng(0)
    names = [f"img{i:05d}.jpg" for i in range(n)]
    for name in names:  # smooth random patterns: a photo's JPEG size and decoding cost, not noise's
        small = rng.integers(0, 256, (25, 25, 3), dtype=np.uint8)
        Image.fromarray(small).resize((250, 250), Image.BILINEAR).save(root / name, quality=90)
    return root, names


def mtcnn_rate(device, weights: Path, images: int, threads: int) -> dict:
    """landmark_images as the landmarks_mtcnn rule runs it (decoding + cascade), decoding in the pool it picks for
    the device (at least 2 threads, so a dry run on the CPU exercises the pool too) and inline."""
    from facebench.detect.landmarking import default_decoders, landmark_images
    from facebench.detect.mtcnn import MTCNN

    files = {k: weights / f"{k}.pt" for k in ("pnet", "rnet", "onet")}
    if not all(f.is_file() for f in files.values()):
        return {"skipped": f"no MTCNN weights under {weights} (pnet.pt, rnet.pt, onet.pt)"}
    det = MTCNN(files, device=device)
    batch = schema.default("detect.mtcnn.batch_size")
    decoders = default_decoders(device, threads) or 2
    out = {"images": images, "batch_size": batch, "decoders": decoders}
    with tempfile.TemporaryDirectory() as tmp:
        root, names = mtcnn_images(Path(tmp), images)
        out["source"] = "lfw" if root != Path(tmp) else "random JPEGs (the cascade's cost without faces to refine)"
        if device.type == "cuda":  # warm-up: allocator, cuDNN kernel choice
            landmark_images(root, names[:2], det, batch_size=batch, threads=threads, decoders=0)
        tables = {}
        for key, n_decoders in (("images_per_second", decoders), ("images_per_second_decoding_inline", 0)):
            sync(device)
            t0 = time.perf_counter()
            tables[key], summary = landmark_images(root, names, det, batch_size=batch, threads=threads,
                                                   decoders=n_decoders)
            sync(device)
            out[key] = round(images / (time.perf_counter() - t0), 1)
    a, b = tables.values()
    ok = [n for n in names if a[n].flag == b[n].flag == "ok"]
    diff = max((float(np.abs(a[n].points - b[n].points).max()) for n in ok), default=0.0)
    # flags exactly, points to 1e-3 px: a GPU's kernels need not repeat their rounding run to run
    out["max_point_difference_px"] = diff
    out["same_landmarks"] = all(a[n].flag == b[n].flag for n in names) and diff <= 1e-3
    out["counts"] = summary["counts"]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_worker(rank, size, port, cuda, batch, steps, results):
    os.environ.update(WORLD_SIZE=str(size), RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    with distributed.world(device) as world:
        torch.manual_seed(0)
        model = build("mobilefacenet", input_size=(112, 112), embedding_size=128).to(device).train()
        head = losses.build("arcface", 128, 1000).to(device)
        dtype = torch.bfloat16 if cuda else None
        net = distributed.parallel(model, head, dtype, world)
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        mine = world.shard(batch)
        x = torch.randn(batch, 3, 112, 112, device=device)[mine]
        y = torch.randint(0, 1000, (batch,), device=device)[mine]
        for i in range(steps + 2):
            if i == 2:
                world.barrier()
                t0 = time.perf_counter()
            out = net(x, y)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
        world.barrier()
        if world.main:
            rate = round(batch * steps / (time.perf_counter() - t0), 1)
            results.put({"processes": size, "backend": world.backend, "global_batch": batch,
                         "images_per_second": rate, "finite": bool(torch.isfinite(out.loss.detach()).item())})


def one_rank_group(cuda: bool) -> dict:
    """With one GPU the training loop joins no process group, so NCCL itself is checked in a group of one: an
    all-reduce and a DistributedDataParallel step."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    backend = "nccl" if cuda else "gloo"
    if not cuda:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # a group of one: no hostname lookup, no outside interface
    # an in-process store: a group of one needs no rendezvous socket, so nothing can wait on a port someone else took
    dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1,
                            timeout=datetime.timedelta(seconds=DDP_DEADLINE_S))
    try:
        device = torch.device("cuda" if cuda else "cpu")
        v = torch.ones(4, device=device)
        dist.all_reduce(v)
        net = DistributedDataParallel(torch.nn.Linear(8, 2).to(device))
        net(torch.randn(4, 8, device=device)).sum().backward()
        sync(device)
        return {"backend": backend, "all_reduce_ok": bool((v == 1).all().item()), "ddp_step_ok": True}
    finally:
        dist.destroy_process_group()


def ddp_rate(cuda: bool, batch: int, steps: int) -> dict:
    size = torch.cuda.device_count() if cuda else 1
    results = mp.get_context("spawn").SimpleQueue()
    workers = mp.spawn(ddp_worker, args=(size, free_port(), cuda, batch, steps, results), nprocs=size, join=False)
    deadline = time.monotonic() + DDP_DEADLINE_S
    while not workers.join(timeout=5):  # raises if a worker failed
        if time.monotonic() > deadline:  # a hung rendezvous becomes this part's error, not the whole check's kill
            for p in workers.processes:
                p.kill()
            raise TimeoutError(f"{size} DDP worker(s) not done after {DDP_DEADLINE_S} s")
    out = results.get()
    if size == 1:
        out["group_of_one"] = one_rank_group(cuda)
    return out


def part(name: str, fn, *args) -> dict:
    """Run one part; a failure is recorded with its error and does not stop the others."""
    t0 = time.perf_counter()
    try:
        result = fn(*args)
    except Exception as e:
        result = {"error": f"{type(e).__name__}: {e}", "where": traceback.format_exc(limit=-3)}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(name, result, flush=True)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dry-run", action="store_true", help="every part on the CPU at toy sizes (CI)")
    ap.add_argument("--mtcnn-weights", type=Path, default=SHARED / "weights" / "mtcnn")
    ap.add_argument("--gpu-batch-size", type=int, default=schema.default("embed.gpu_batch_size"),
                    help="the embed parts' batch size (default: the config's embed.gpu_batch_size)")
    args = ap.parse_args()
    cuda = torch.cuda.is_available() and not args.dry_run
    if not cuda and not args.dry_run:
        raise SystemExit("no CUDA device: run with --dry-run to check the script on the CPU")
    device = torch.device("cuda" if cuda else "cpu")
    runtime.set_threads(2 if not cuda else None)
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed shapes throughout
    # sizes: the on a GPU; toy ones on the CPU, where only "it runs and is finite" is checked
    big = {"loss_steps": 50, "loss_batch": 128, "loss_size": (112, 112), "batch": 512, "steps": 20,
           "embed_batch": args.gpu_batch_size, "embed_batches": 40, "embed_faces": 40 * args.gpu_batch_size,
           "loader_batches": 20, "mtcnn_images": 512, "ddp_batch": 512}
    # (a CPU without native bf16/fp16 emulates autocast: about 2 s a step, so two steps of 8 for each of 22 pairs)
    toy = {"loss_steps": 2, "loss_batch": 8, "loss_size": (32, 32), "batch": 8, "steps": 1,
           "embed_batch": 8, "embed_batches": 2, "embed_faces": 12, "loader_batches": 2, "mtcnn_images": 4,
           "ddp_batch": 8}
    s = big if cuda else toy
    dtypes = [torch.bfloat16, torch.float16]
    result = {"device": str(device), "gpu": torch.cuda.get_device_name() if cuda else None,
              "gpus": torch.cuda.device_count() if cuda else 0, "torch": torch.__version__,
              "measured": cuda, "sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in s.items()},
              "targets": TARGETS}
    result["losses"] = part("losses", train_losses, device, dtypes, s["loss_steps"], s["loss_batch"],
                            s["loss_size"])
    result["losses_all_finite"] = all(v.get("finite") for k, v in result["losses"].items() if isinstance(v, dict))
    result["train"] = {}
    for name, backbone, bargs, size in BACKBONES:
        size = size if cuda else (32, 32) if backbone != "mobilefacenet" else (112, 112)
        result["train"][name] = part(f"train {name}", step_rate, backbone, bargs, size, device, s["batch"],
                                     s["steps"], torch.bfloat16)
    result["embed"] = part("embed", embed_rate, device, s["embed_batch"], s["embed_batches"])
    result["embed_stage"] = part("embed stage", embed_stage_rate, device, s["embed_batch"], s["embed_faces"])
    result["loader"] = part("loader", loader_rate, device, s["batch"], s["loader_batches"], max(2 * s["batch"], 64))
    result["mtcnn"] = part("mtcnn", mtcnn_rate, device, args.mtcnn_weights, s["mtcnn_images"],
                           runtime.cpu_streams(None))
    result["ddp"] = part("ddp", ddp_rate, cuda, s["ddp_batch"], s["steps"])
    step = result["train"]["mobilefacenet"].get("images_per_second")
    loader = result["loader"].get("images_per_second")
    result["loader_over_step"] = round(loader / step, 2) if step and loader else None
    if cuda:
        ips = {k: (v or {}).get("images_per_second") for k, v in (
            ("mobilefacenet_train_amp", result["train"]["mobilefacenet"]),
            ("iresnet50_train_amp", result["train"]["iresnet50"]), ("embed", result["embed"]))}
        ips["loader_over_step"] = result["loader_over_step"]
        result["targets_met"] = {k: (v is not None and v >= TARGETS[k]) for k, v in ips.items()}
    else:
        result["targets_met"] = "not measured: a dry run on the CPU checks only that every part runs"
    write("gpu_check" + ("" if cuda else "-dry-run"), result)
    failed = [k for k in ("embed", "embed_stage", "loader", "mtcnn", "ddp") if "error" in result[k]]
    if result["embed_stage"].get("finite") is False:
        failed.append("embed_stage (non-finite features)")
    if result["mtcnn"].get("same_landmarks") is False:
        failed.append("mtcnn (the decoder pool changed the landmarks)")
    failed += [f"train {k}" for k, v in result["train"].items() if "error" in v]
    if not result["losses_all_finite"]:
        failed.append("losses")
    if failed:
        raise SystemExit(f"gpu_check: failed parts: {', '.join(failed)}")


if __name__ == "__main__":
    main()
