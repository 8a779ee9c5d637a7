"""The first convolution's kernels of a model, the resolution seed's "weight analysis" (kernels of a model trained
on upscaled low-resolution faces look smoother than those of one that saw high-resolution faces)."""
from __future__ import annotations

import numpy as np
from torch import nn


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The first Conv2d in the model's module order (the stem every backbone starts with)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ValueError(f"{type(model).__name__} has no Conv2d layer")


def kernel_summary(model_path, out) -> dict:
    """Save the first conv's weights (out x in x kh x kw) and their spatial smoothness to ``out`` (.npz)."""
    import json

    from facebench.io import save_npz
    from facebench.models.checkpoint import load_model

    model, info = load_model(model_path)
    w = first_conv(model).weight.detach().float().numpy()
    # smoothness: the share of each kernel's energy that is not in its neighbour differences (1 = flat kernel)
    dx, dy = np.diff(w, axis=3), np.diff(w, axis=2)
    energy = (w ** 2).sum(axis=(1, 2, 3)) + 1e-12
    rough = ((dx ** 2).sum(axis=(1, 2, 3)) + (dy ** 2).sum(axis=(1, 2, 3))) / energy
    meta = {"kind": "kernels", "model": str(model_path), "backbone": info.get("backbone"),
            "shape": list(w.shape), "roughness_mean": float(rough.mean()),
            "roughness": "mean over kernels of (sum of squared neighbour differences) / (sum of squared weights)"}
    save_npz(out, weights=w, meta=np.array(json.dumps(meta)))
    return meta
