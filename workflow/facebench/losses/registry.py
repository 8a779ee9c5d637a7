"""Losses by name: config says `loss: arcface` and `loss_options: {m: 0.5}`, `build()` makes it.

Options are a loss's keyword-only `__init__` arguments; one that is a Python keyword (center's `lambda`) is spelled
with a trailing underscore in Python (`lambda_`) and without it in config, which is the only name `build` accepts.
"""
from __future__ import annotations

import inspect
import keyword
from typing import Any

from facebench.losses.base import Loss

_LOSSES: dict[str, type[Loss]] = {}


def register(name: str):
    def wrap(cls):
        if name in _LOSSES:
            raise KeyError(f"loss {name!r} registered twice")
        cls.name = name
        _LOSSES[name] = cls
        return cls

    return wrap


def names() -> list[str]:
    return sorted(_LOSSES)


def _get(name: str) -> type[Loss]:
    if name not in _LOSSES:
        raise KeyError(f"unknown loss {name!r}; registered: {', '.join(names())}")
    return _LOSSES[name]


def _options(cls: type[Loss]) -> dict[str, inspect.Parameter]:
    """config name -> the keyword-only parameter it fills."""
    out = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.kind is p.KEYWORD_ONLY:
            bare = p.name[:-1] if p.name.endswith("_") and keyword.iskeyword(p.name[:-1]) else p.name
            out[bare] = p
    return out


def defaults(name: str) -> dict[str, Any]:
    """The options of loss `name` with their defaults, by their config names."""
    return {k: p.default for k, p in _options(_get(name)).items()}


def build(name: str, embedding_size: int, num_classes: int | None = None, **options) -> Loss:
    cls = _get(name)
    accepted = _options(cls)
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise TypeError(f"loss {name!r} has no option {', '.join(map(repr, unknown))}; "
                        f"its options: {', '.join(accepted)}")
    return cls(embedding_size, num_classes, **{accepted[k].name: v for k, v in options.items()})
