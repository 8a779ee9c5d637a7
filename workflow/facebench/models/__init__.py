"""Backbones, one module per family; importing this package registers them all."""
from facebench.models import mobilefacenet  # noqa: F401  (registers)
from facebench.models.registry import build, names, register

__all__ = ["build", "names", "register"]
