"""What a fine-tuning run trains (config key ``models.<name>.train.trainable``); everything else stays as loaded.

- ``all``: the backbone and the loss head (the default: ordinary training).
- ``output``: the backbone's output layer (its ``output_layer``: the layers from the last feature map to the
  embedding) and the head.
- ``head``: the head only.

A frozen parameter gets ``requires_grad = False`` and is left out of the optimizer (so weight decay and momentum
never move it either), and a frozen module runs in eval mode during training, so its batch-norm running statistics
and dropout stay as loaded: a frozen parameter ends bit-identical to its start.
"""
from __future__ import annotations

from torch import nn

TRAINABLE = ("all", "output", "head")


def trainable_modules(model: nn.Module, trainable: str, where: str) -> list[nn.Module]:
    """The backbone's modules that train under ``trainable`` (``where`` names the config key in errors)."""
    if trainable == "all":
        return [model]
    if trainable == "output":
        return list(model.output_layer)
    if trainable == "head":
        return []
    raise ValueError(f"{where}: {trainable!r} is not one of {', '.join(TRAINABLE)}")


def freeze(model: nn.Module, trainable: str, where: str) -> list[nn.Parameter]:
    """Switch off the gradient of every backbone parameter outside the trainable modules; returns the trainable
    ones (what goes to the optimizer)."""
    keep = {id(p) for m in trainable_modules(model, trainable, where) for p in m.parameters()}
    for p in model.parameters():
        if id(p) not in keep:
            p.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def set_train_mode(model: nn.Module, trainable: str, where: str) -> None:
    """Train mode for the trainable modules only: frozen batch norms keep their running statistics."""
    model.eval()
    for m in trainable_modules(model, trainable, where):
        m.train()
