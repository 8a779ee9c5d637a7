"""Backbones, one module per family; importing this package registers them all."""
from facebench.models import iresnet, mobilefacenet, resnet, sphere  # noqa: F401  (importing registers them)
from facebench.models.registry import build, names, register

__all__ = ["build", "names", "register"]
