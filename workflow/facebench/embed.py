"""Features for every face of an aligned-face store, with the horizontally flipped face's features beside them.

Output ``.npz``: ``paths`` (N), ``features`` and ``features_flip`` (N x D float32), ``status`` (the store's align
status per face) and ``meta`` (JSON text). How the two are combined (plain, flip-concat, flip-sum) is chosen at
scoring time, so one embedding pass serves every evaluation variant.

How it runs on CPU (bench/embed_throughput.py measures it against a plain eager loop):
- the network is a frozen TorchScript graph (batch norm folded into the convolutions, oneDNN layouts kept between
  layers where every op allows it), built and warmed on one thread; one that cannot be traced runs eager;
- the batches (``batch_size`` faces, then the same faces mirrored) are shared among independent streams, one per
  thread, each running whole batches on one intra-op thread, instead of one stream whose every layer is split
  across the threads. Why: a small network's layers are too short to split well (2 streams: 1.4x the rate of one
  2-thread stream on an idle 2-core VM), and on a shared machine an OpenMP team waits at every layer for its
  slowest thread (with one core busy elsewhere, 2 threads ran 5-10x slower than 1) where independent streams just
  share what CPU there is. Each batch is computed by one thread, so the features do not depend on the scheduling.
- face and mirror run as two calls of ``batch_size``, not one of twice that: MobileFaceNet's largest activation at
  32 x 112 px faces (51 MB) passes glibc's 32 MB mmap ceiling, and every layer then page-faulted fresh memory.
An ONNX model (backbone ``onnx``, models/onnx_backbone.py) runs through onnxruntime instead: not traced (its forward
is a call into onnxruntime, not torch ops), one stream, onnxruntime's own intra-op threads set to the streams' count
(its thread pool splits each layer itself; several sessions side by side would each hold a copy of the model).
Full precision only: bf16 on AMX ran 1.7-2.4x faster per forward (frozen graph; torch.compile) but moved LFW View 2
accuracy by 0.05-0.1 pp (3-6 of 6,000 pairs), not less than 0.05 pp as required; fp16 kept it (cosine 0.999996) but
ran slower than fp32 (no AMX-FP16 on these CPUs). torch.compile in fp32 gained ~5% per forward for a 10-25 s compile.

On a GPU (``embed_rows_on_device``) the network runs eager at its own batch size (``embed.gpu_batch_size``: a CPU's
16 would leave a GPU launching kernels for tiny batches). Each batch is gathered from the store as uint8 into
page-locked memory by loader threads ahead of the device, copied without blocking (a quarter of the bytes of the
fp32 input), and converted, normalised and mirrored there by the same ``to_model_input`` the CPU path runs; one
batch's features are fetched while the next one's kernels run.
"""
from __future__ import annotations

import json
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from facebench.io import read_json, rows_of, save_npz
from facebench.models.checkpoint import load_model
from facebench.models.inputs import to_model_input
from facebench.runtime import cpu_streams, ieee_fp32, one_thread_per_stream
from facebench.store import open_faces, read_index

EMBEDDINGS_VERSION = 1
RUN_ONLY = ("streams", "seconds", "images_per_second_with_flip")  # meta of the run, not of the embeddings


def preprocess(batch: np.ndarray, input_spec: dict) -> torch.Tensor:
    """uint8 N x H x W x 3 RGB -> float N x 3 x h x w, in the model's channel order, size and normalisation."""
    return to_model_input(torch.from_numpy(np.array(batch, dtype=np.uint8, copy=True)), input_spec)


def uint8_batch(faces: np.ndarray, rows: np.ndarray, *, pin: bool) -> torch.Tensor:
    """``faces[rows]`` as one uint8 N x H x W x 3 tensor, gathered straight into page-locked memory when ``pin`` (a
    copy from there to the GPU can run asynchronously; torch's pinned-memory cache reuses the buffer only after
    that copy is done)."""
    out = torch.empty((len(rows), *faces.shape[1:]), dtype=torch.uint8, pin_memory=pin)
    np.take(faces, rows, axis=0, out=out.numpy())
    return out


def device_input(batch: torch.Tensor, spec: dict, device: torch.device) -> torch.Tensor:
    """A uint8 batch (``uint8_batch``) to the model's input on ``device``: moved as uint8, prepared there."""
    return to_model_input(batch.to(device, non_blocking=True), spec)


def eager_features(model: torch.nn.Module, faces: np.ndarray, rows: np.ndarray, input_spec: dict, *,
                   batch_size: int = 64, device: torch.device | None = None, amp_dtype=None) -> np.ndarray:
    """Features of the faces at ``rows`` of a store, by the model as it is (eager, eval mode, no gradient): the small
    sets embedded inside other stages (validation during training, t-SNE), where building a frozen graph would cost
    more than it saves. The caller restores the model's mode."""
    device = device or torch.device("cpu")
    model.eval()
    out = []
    with torch.no_grad(), torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        for lo in range(0, len(rows), batch_size):
            x = torch.from_numpy(np.asarray(faces[rows[lo:lo + batch_size]])).to(device)
            out.append(model(to_model_input(x, input_spec)).float().cpu().numpy())
    return np.concatenate(out)


def inference_module(model: torch.nn.Module, device: torch.device, example: torch.Tensor | None):
    """The network as it runs for embedding, and its kind: on CPU a frozen TorchScript graph.

    Why frozen on CPU: freezing folds batch norm into the convolutions, and ``optimize_for_inference`` keeps oneDNN
    layouts between layers; measured 2-3x the eager throughput for MobileFaceNet on this project's 2-core machines,
    with the same outputs (cosine > 0.9999; tests/test_embed.py and bench/embed_throughput.py check it). A network
    with an op oneDNN cannot take (e.g. uneven adaptive pooling in the IR-SE nets) runs frozen without the oneDNN
    layouts, and one that cannot be traced at all runs as the eager module. On GPU the eager module runs as is.
    """
    model = model.to(device).eval()
    if is_onnx(model):  # a call into onnxruntime: nothing for torch to trace
        return model, "onnxruntime"
    if device.type != "cpu":
        return model, "eager"
    errors = []
    for kind in ("frozen+onednn", "frozen"):
        with torch.inference_mode():
            try:
                # check_trace off: the check re-runs the eager model twice; the tests check the graph's outputs
                net = torch.jit.freeze(torch.jit.trace(model, example, check_trace=False))
                if kind == "frozen+onednn":
                    net = torch.jit.optimize_for_inference(net)
                for _ in range(2):  # the graph executor profiles and optimises on its first calls: done here, once
                    net(example)
                return net, kind
            except RuntimeError as err:
                errors.append(f"{kind}: {str(err).strip().splitlines()[-1][:200]}")
    print(f"embed: no frozen graph ({'; '.join(errors)}); running the eager module", file=sys.stderr)
    return model, "eager"


def is_onnx(model: torch.nn.Module) -> bool:
    from facebench.models.onnx_backbone import OnnxBackbone

    return isinstance(model, OnnxBackbone)


def embed_rows(net, faces: np.ndarray, rows: np.ndarray, spec: dict, *, batch_size: int, device: torch.device,
               streams: int = 1, pad: bool = True, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Features of ``faces[rows]`` and of their mirror images, batch by batch, the batches shared among ``streams``
    threads (call it inside ``one_thread_per_stream``). ``pad`` fills the last batch up to ``batch_size`` for a graph
    traced at that size. Returns two float32 arrays (len(rows) x D), in the order of ``rows``."""

    def forward(lo: int) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():  # thread-local: entered in the thread that runs the batch
            x = preprocess(faces[rows[lo:lo + batch_size]], spec)
            k = len(x)
            if k < batch_size and pad:
                x = torch.cat([x, x.new_zeros((batch_size - k, *x.shape[1:]))])
            x = x.to(device)
            return net(x)[:k].float().cpu().numpy(), net(x.flip(3))[:k].float().cpu().numpy()

    feats, feats_flip = [], []
    with ThreadPoolExecutor(max_workers=max(1, streams)) as pool:
        for f, ff in pool.map(forward, range(0, len(rows), batch_size)):  # in order, whichever thread ran it
            feats.append(f)
            feats_flip.append(ff)
            if progress is not None:
                progress.update(len(f))
    if not feats:
        return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
    return np.concatenate(feats).astype(np.float32), np.concatenate(feats_flip).astype(np.float32)


def embed_rows_on_device(net, faces: np.ndarray, rows: np.ndarray, spec: dict, *, batch_size: int,
                         device: torch.device, loaders: int = 2, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """``embed_rows`` for a GPU: ``loaders`` threads gather the next batches (uint8, pinned on CUDA) while the
    device runs the current one, and a batch's features are fetched after the next batch is queued, so the device
    does not wait for the host between batches. Same outputs as ``embed_rows``, in the order of ``rows``."""
    starts = list(range(0, len(rows), batch_size))
    pin = device.type == "cuda"
    feats, feats_flip = [], []

    def fetch(outputs) -> None:  # waits for that batch's kernels only
        f, ff = (t.float().cpu().numpy() for t in outputs)
        feats.append(f)
        feats_flip.append(ff)
        if progress is not None:
            progress.update(len(f))

    def load(i: int) -> torch.Tensor:
        return uint8_batch(faces, rows[starts[i]:starts[i] + batch_size], pin=pin)

    ahead = loaders + 1  # batches gathered but not yet sent: bounded, so host memory does not grow with the store
    with ThreadPoolExecutor(max_workers=max(1, loaders)) as pool, torch.inference_mode():
        pending = deque(pool.submit(load, i) for i in range(min(ahead, len(starts))))
        queued = None
        for i in range(len(starts)):
            batch = pending.popleft().result()
            if i + ahead < len(starts):
                pending.append(pool.submit(load, i + ahead))
            x = device_input(batch, spec, device)
            outputs = (net(x), net(x.flip(3)))
            if queued is not None:
                fetch(queued)
            queued = outputs
        if queued is not None:
            fetch(queued)
    if not feats:
        return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
    return np.concatenate(feats).astype(np.float32), np.concatenate(feats_flip).astype(np.float32)


def on_device_path(device: torch.device, onnx: bool) -> bool:
    """Whether the GPU path (and its batch size) serves: a non-CPU device, and a torch network (the pinned
    onnxruntime wheel runs on the CPU even when the device is a GPU)."""
    return device.type != "cpu" and not onnx


def embed_store(model_path: str | Path, store_dir: str | Path, out: str | Path, *, batch_size: int = 16,
                gpu_batch_size: int = 256, device: torch.device | None = None, images: list[str] | None = None,
                streams: int | None = None) -> dict:
    """Embed the store's faces (or only ``images``) with their mirror images into ``out``; returns its meta.

    On CPU the batches (``batch_size``) run in ``streams`` independent streams (default: torch's thread count), one
    thread each; an ONNX model runs one stream of onnxruntime with that many threads. On a GPU the batches are of
    ``gpu_batch_size`` (``embed_rows_on_device``); the meta records the batch size and device used."""
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
        rows = rows_of(index.paths, images,
                       lambda n, first: f"{n} image(s) to embed are not in the store {store_dir}, e.g. {first}")
    n = len(rows)
    h, w = faces.shape[1:3]
    on_cpu, onnx = device.type == "cpu", is_onnx(model)
    gpu_path = on_device_path(device, onnx)
    batch_size = gpu_batch_size if gpu_path else batch_size
    n_streams = cpu_streams(streams) if on_cpu else 1
    if onnx:  # onnxruntime threads each call itself: its threads are the streams' count, and one stream feeds it
        # (on a GPU device too: the pinned onnxruntime wheel is CPU-only, so its session runs on the CPU there)
        model.threads, n_streams = cpu_streams(streams), 1
    start = time.perf_counter()
    # the graph is built, and every stream runs, on one thread; on CUDA in IEEE fp32 (no TF32), as the meta says
    with ieee_fp32(device) as precision, one_thread_per_stream(n_streams):
        # the example is traced on CPU only (a GPU runs the eager module): not built there at the GPU batch size
        example = None if gpu_path else preprocess(np.zeros((batch_size, h, w, 3), np.uint8), spec).to(device)
        net, kind = inference_module(model, device, example)
        with bar(n, "embed") as progress:  # a traced graph is fed its traced batch size; onnxruntime pads itself
            if gpu_path:
                feats, feats_flip = embed_rows_on_device(net, faces, rows, spec, batch_size=batch_size,
                                                         device=device, progress=progress)
            else:
                feats, feats_flip = embed_rows(net, faces, rows, spec, batch_size=batch_size, device=device,
                                               streams=n_streams, pad=on_cpu and not onnx, progress=progress)
    seconds = time.perf_counter() - start
    # an ONNX model whose output has a symbolic width knows D only from its features
    dim = int(getattr(model, "embedding_size", None) or feats.shape[1])
    if n == 0:
        feats = feats_flip = np.zeros((0, dim), np.float32)
    meta = {"version": EMBEDDINGS_VERSION, "model": str(model_path), "store": str(store_dir), "n_images": n, "dim": dim,
            "batch_size": batch_size, "device": str(device), "graph": kind, "precision": precision,
            "streams": n_streams, "seconds": round(seconds, 3),
            "images_per_second_with_flip": round(n / seconds, 2) if seconds > 0 else None}
    # the file keeps what describes its contents; the run's timing and stream count go to the caller (and the log)
    # only, so that embedding the same faces twice writes the same bytes, which the metrics' provenance records
    stored = {k: v for k, v in meta.items() if k not in RUN_ONLY}
    save_npz(out, paths=np.array(index.paths)[rows], status=np.array(index.status)[rows],
             features=feats, features_flip=feats_flip, meta=np.array(json.dumps(stored)))
    return meta
