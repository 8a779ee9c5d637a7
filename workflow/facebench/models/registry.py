"""Backbones by name: config says `backbone: mobilefacenet`, `build()` makes it."""
from __future__ import annotations

from collections.abc import Callable

from torch import nn

_BACKBONES: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    def wrap(cls):
        if name in _BACKBONES:
            raise KeyError(f"backbone {name!r} registered twice")
        _BACKBONES[name] = cls
        return cls

    return wrap


def names() -> list[str]:
    return sorted(_BACKBONES)


def build(name: str, **kwargs) -> nn.Module:
    if name not in _BACKBONES:
        raise KeyError(f"unknown backbone {name!r}; registered: {', '.join(names())}")
    return _BACKBONES[name](**kwargs)
