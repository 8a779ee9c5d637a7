"""What the training log shows of a step (loss, accuracy, the loss's parts), kept on the device until it is read.

Turning a GPU tensor into a Python number makes the host wait until the device has finished everything queued so
far, so reading the loss parts every step left the GPU idle while the host prepared the next step. Here a step's
values stay detached 0-d tensors; ``read`` turns the latest step's into floats (averaged over the processes) with
one wait, at the steps the log writes. The log therefore holds exactly the numbers per-step reading gave.

A non-finite loss is noticed the same way: every step folds "is the loss finite" into the first bad step on the
device (a few tiny kernels, no wait), and ``first_bad_step`` reads it where the loop must know, before anything is
logged, validated or saved: the run stops with the step where the loss first went non-finite named, and the state on
disk is still the last good one.
"""
from __future__ import annotations

import torch

from facebench.train.distributed import World


class StepValues:
    def __init__(self, world: World, never: int):
        self.world, self.never = world, int(never)  # ``never``: a step number no step has (no bad step yet)
        self.latest: dict[str, torch.Tensor | None] = {}
        self.first_bad: torch.Tensor | None = None  # step number of the first non-finite loss, else ``never``
        self.bad_loss: torch.Tensor | None = None  # the loss at that step

    def add(self, step: int, values: dict[str, torch.Tensor | None]) -> None:
        """This step's values (``loss`` among them, the others may be None)."""
        self.latest = {k: None if v is None else v.detach() for k, v in values.items()}
        loss = self.latest["loss"].float()
        if self.first_bad is None:
            self.first_bad = torch.full((), self.never, dtype=torch.int64, device=loss.device)
            self.bad_loss = torch.zeros((), dtype=loss.dtype, device=loss.device)
        first = ~torch.isfinite(loss) & (self.first_bad == self.never)
        self.first_bad = torch.where(first, step, self.first_bad)
        self.bad_loss = torch.where(first, loss, self.bad_loss)

    def first_bad_step(self) -> tuple[int, float | str] | None:
        """(step, loss) of the first non-finite loss on any process so far, or None; one wait for the device (and
        one reduction over the processes, so every process stops at the same step)."""
        if self.first_bad is None:
            return None
        step = self.world.min_int(self.first_bad)
        if step == self.never:
            return None
        mine = self.first_bad.tolist() == step  # this process's own loss went bad there, or another's did
        return step, self.bad_loss.tolist() if mine else "not finite on another process"

    def read(self) -> dict[str, float | None]:
        """The latest step's values as floats, averaged over the processes."""
        return self.world.read_means(self.latest)
