"""Alignment templates as plain data: the five points each crop puts the eyes, nose and mouth corners at.

Besides these warp templates, ``box`` is a pseudo-template: the detector's face box plus a margin, cut and resized
without a warp (alignment method ``box``; facenet-pytorch's MTCNN crops). It has no points, and its crop size is the
box alignment's ``size``, so a model of template ``box`` states its ``input.size``. ``TEMPLATES`` holds the warp
templates only; ``NAMES`` is every name a model's ``input.template`` may take.

Light (no numpy): config validation in Snakemake's own process reads the template names and crop sizes from here.
"""
from __future__ import annotations

# the SphereFace 96x112 crop (left eye, right eye, nose, left mouth corner, right mouth corner), (x, y) px
SPHEREFACE_POINTS = ((30.2946, 51.6963), (65.5318, 51.5014), (48.0252, 71.7366), (33.5493, 92.3655),
                     (62.7299, 92.2041))

# name -> (width, height) of the crop and its five points
TEMPLATES: dict[str, dict] = {
    "sphereface96x112": {"size": (96, 112), "points": SPHEREFACE_POINTS},
    # the ArcFace/insightface 112x112 crop: the same points shifted 8 px right
    "arcface112": {"size": (112, 112), "points": tuple((x + 8.0, y) for x, y in SPHEREFACE_POINTS)},
}

# the detector's box, no warp: the crop size comes from the box alignment (alignments.<name>.size)
BOX = "box"
NAMES: tuple[str, ...] = (*sorted(TEMPLATES), BOX)


def template(name: str) -> dict:
    """A warp template's crop size and points (the pseudo-template ``box`` has neither)."""
    if name == BOX:
        raise KeyError(f"{BOX!r} is not a warp template: its faces are the detector's box, cut and resized to the "
                       "box alignment's size, with no points to warp onto")
    if name not in TEMPLATES:
        raise KeyError(f"unknown alignment template {name!r}; known: {', '.join(NAMES)}")
    return TEMPLATES[name]


def input_size(spec_input: dict) -> list[int]:
    """[height, width] a model sees: its config ``input.size``, else its template's crop (template ``box`` has no
    crop of its own: it needs ``input.size``)."""
    if spec_input.get("size"):
        return [int(v) for v in spec_input["size"]]
    if spec_input["template"] == BOX:
        raise ValueError(f"input.size: template {BOX!r} needs input.size ([h, w]): a box crop's size is set by its "
                         "alignment, not by the template")
    w, h = template(spec_input["template"])["size"]
    return [h, w]


def backbone_args(model_spec: dict, where: str) -> dict:
    """The backbone's arguments with ``input_size`` taken from the model's input (``input.size``, else the template's
    crop), so the size is said once in config; an explicit ``backbone_args.input_size`` must agree with it."""
    size = input_size(model_spec["input"])
    args = dict(model_spec.get("backbone_args", {}))
    given = args.get("input_size")
    if given is not None and [int(v) for v in given] != size:
        raise ValueError(f"{where}.backbone_args.input_size: {list(given)} disagrees with the model's input "
                         f"{size} ({where}.input.size or its template)")
    args["input_size"] = size
    return args
