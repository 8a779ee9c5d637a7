"""Process-level settings for the compute stages: threads, device, memory allocator (torch imported lazily)."""
from __future__ import annotations

import ctypes
import sys
from contextlib import contextmanager

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed buffers instead of returning them to the kernel.

    Why: each forward pass (or each step of a million-pair evaluation) frees and re-allocates buffers of the same
    size; glibc's default hands large ones back with munmap, so they page-fault in again, and a fresh page is very
    expensive on our VMs (measured: ~6,000 faults per 8-image MobileFaceNet batch, half the wall time; 400 MB of
    fresh memory took 6.7 s to touch). A no-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False


def flush_denormals() -> bool:
    """Treat denormal floats as zero on CPU (x86 FTZ/DAZ). Why: sphere20 without batch norm (N(0, 0.01) convs) drives
    activations and gradients into the denormal range, where each multiply costs ~100x; measured 3x slower steps than
    the BN variant. The values flushed (< 1.2e-38) cannot move a result at float32 precision."""
    import torch

    return bool(torch.set_flush_denormal(True))


def set_threads(n: int | None) -> int:
    import torch

    if n:
        torch.set_num_threads(max(1, int(n)))
    return torch.get_num_threads()


def map_in_threads(fn, items, threads: int = 1) -> list:
    """``[fn(item) for item in items]`` in that order; with ``threads`` > 1 that many items run at once, each with one
    BLAS / OpenMP thread (threadpoolctl). For numpy and scikit-learn work that releases the GIL but whose items are too
    small to keep a team of BLAS threads busy (scorer folds, feature modes); each item computes exactly what it would
    alone on one thread, so the results do not depend on ``threads``."""
    items = list(items)
    if threads <= 1 or not items:
        return [fn(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), ThreadPoolExecutor(min(threads, len(items))) as pool:
        return list(pool.map(fn, items))


def pick_device(preference: str = "auto"):
    """``auto`` takes the GPU when there is one; ``cuda`` without a GPU is an error, not a silent CPU run."""
    import torch

    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(preference)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no GPU")
    return dev


def cpu_streams(threads: int | None = None) -> int:
    """Independent CPU streams (embedding batches, MTCNN chunks): one per intra-op thread torch was given (--threads).

    Why streams: a small network's layers are too short to split across threads (2 streams ran 1.4x the rate of one
    2-thread stream on an idle 2-core VM), and on a shared machine an OpenMP team waits at every layer for its
    slowest thread, where independent streams just go on."""
    import torch

    return max(1, int(threads or torch.get_num_threads()))


@contextmanager
def one_thread_per_stream(streams: int):
    """With several streams, torch's intra-op threads set to 1 (a process-wide setting) and restored on leaving."""
    import torch

    before = torch.get_num_threads()
    if streams > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def ieee_fp32(device):
    """On a CUDA device, float32 convolutions and matrix products in IEEE fp32 (TF32 off), restored on leaving; yields
    the precision label the outputs record ("fp32" on CPU, "fp32 (TF32 off)" on CUDA).

    Why: cuDNN convolutions default to TF32 in this torch (10-bit mantissa on Ampere and later), so a "fp32" CUDA
    embedding or MTCNN pass would not be fp32. The newer ``fp32_precision`` settings are used where torch has them,
    the legacy ``allow_tf32`` flags otherwise. The settings are process-wide: every stream thread runs under them."""
    import torch

    if getattr(device, "type", device) != "cuda":
        yield "fp32"
        return
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    if hasattr(getattr(cudnn, "conv", None), "fp32_precision") and hasattr(matmul, "fp32_precision"):
        settings = [(cudnn.conv, "fp32_precision", "ieee"), (matmul, "fp32_precision", "ieee")]
    else:
        settings = [(cudnn, "allow_tf32", False), (matmul, "allow_tf32", False)]
    before = [getattr(obj, name) for obj, name, _ in settings]
    for obj, name, value in settings:
        setattr(obj, name, value)
    try:
        yield "fp32 (TF32 off)"
    finally:
        for (obj, name, _), value in zip(settings, before):
            setattr(obj, name, value)
