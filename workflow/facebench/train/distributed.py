"""Data-parallel training over the processes torchrun starts (config key ``train.processes``).

torchrun gives every process WORLD_SIZE, RANK, LOCAL_RANK and the rendezvous address; ``world`` joins them into one
process group (NCCL on GPUs, one GPU per process at cuda:LOCAL_RANK; gloo on CPU). Without torchrun, or with one
process, nothing here talks to another process and training is the plain single-process loop.

Each process computes the loss of its own contiguous slice of the global batch; ``parallel`` wraps backbone and head
in DistributedDataParallel, which averages their gradients, so a step moves the weights as one process would on the
whole batch (up to batch-norm statistics, which each process takes over its own slice).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    size: int = 1
    rank: int = 0
    backend: str | None = None  # None: a single process, no process group
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """The one process that writes the state, the logs and the outputs, and validates."""
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This process's contiguous part of a batch of ``n`` (contiguous keeps PK identity groups together)."""
        per = n // self.size
        return slice(self.rank * per, (self.rank + 1) * per)

    def mean(self, values: dict[str, float | None]) -> dict[str, float | None]:
        """The mean over processes of each value (None stays None: the same keys are None on every process)."""
        if self.size == 1:
            return values
        keys = [k for k, v in values.items() if v is not None]
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return {**values, **dict(zip(keys, (t / self.size).tolist()))}

    def read_means(self, values: dict[str, torch.Tensor | None]) -> dict[str, float | None]:
        """``mean`` of 0-d device tensors, read into Python floats with one wait for the device: they are stacked
        (in float64, as the floats were reduced), reduced once and copied back together."""
        keys = [k for k, v in values.items() if v is not None]
        if not keys:
            return dict(values)
        t = torch.stack([values[k].detach().to(self.device, torch.float64).reshape(()) for k in keys])
        if self.size > 1:
            dist.all_reduce(t)
            t = t / self.size
        return {**values, **dict(zip(keys, t.tolist()))}

    def min_int(self, value: torch.Tensor) -> int:
        """The smallest over the processes of an integer 0-d tensor, read once."""
        t = value.detach().to(self.device, torch.int64).reshape(1)
        if self.size > 1:
            dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return int(t.tolist()[0])

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on any (so all stop after the same step)."""
        if self.size == 1:
            return bool(flag)
        t = torch.tensor([int(bool(flag))], device=self.device)
        dist.all_reduce(t)
        return bool(t.item())

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()


class StopVote:
    """``World.any`` for the signal flag every step, without the host waiting for the device each time.

    With one process, or on CPU (gloo: the vote is host work anyway), it is ``World.any``. With NCCL, the vote cast
    after step s is reduced on the device and copied to pinned host memory behind that step's work, and read after
    step s + 1, once the device has reached it: every process reads the same reduced vote after the same step, so all
    stop together, one step after the signal, while step s + 1's work keeps the device busy.
    """

    def __init__(self, world: World):
        self.world = world
        self.lagged = world.size > 1 and world.device.type == "cuda"
        self.pending = None  # (host copy, event) of the vote cast after the previous step

    def __call__(self, flag: bool) -> bool:
        if not self.lagged:
            return self.world.any(flag)
        t = torch.tensor([int(bool(flag))], device=self.world.device)
        dist.all_reduce(t)
        host = torch.empty(1, dtype=t.dtype, pin_memory=True)
        host.copy_(t, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        previous, self.pending = self.pending, (host, done)
        if previous is None:
            return False
        previous[1].synchronize()  # waits for the previous step's work only
        return bool(previous[0].numpy()[0])


@contextlib.contextmanager
def world(device: torch.device) -> Iterator[World]:
    """Join the process group torchrun set up (destroyed on leaving, also on error); a single process joins none."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        yield World(device=device)
        return
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend)  # env:// rendezvous: the address and port torchrun exported
    try:
        yield World(size, rank, backend, device)
    finally:
        dist.destroy_process_group()


class Joined(nn.Module):
    """Backbone and loss head as one module, so DistributedDataParallel averages the head's gradients too."""

    def __init__(self, backbone: nn.Module, head: nn.Module, amp_dtype: torch.dtype | None):
        super().__init__()
        self.backbone, self.head, self.amp_dtype = backbone, head, amp_dtype

    def forward(self, x, y):
        with torch.autocast(x.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            emb = self.backbone(x)
        return self.head(emb.float(), y)


def parallel(backbone: nn.Module, head: nn.Module, amp_dtype, world: World) -> nn.Module:
    """The training step's module: DDP over the processes (it syncs only parameters with requires_grad, so frozen
    layers stay as they are), or the plain joined module for one process."""
    joined = Joined(backbone, head, amp_dtype)
    if world.size == 1:
        return joined
    ids = [world.device.index] if world.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(joined, device_ids=ids)
