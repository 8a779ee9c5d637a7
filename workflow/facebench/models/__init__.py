"""Backbones, one module per family; importing this package registers them all."""
# importing each family's module registers its names
from facebench.models import (  # noqa: F401
    arcface_iresnet,
    inception_resnet_v1,
    iresnet,
    mobilefacenet,
    onnx_backbone,
    resnet,
    sphere,
)
from facebench.models.registry import build, names, register

__all__ = ["build", "names", "register"]
