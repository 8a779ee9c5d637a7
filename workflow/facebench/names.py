"""The names the code registers, as plain data: what config may name, readable without torch or OpenCV.

Config validation runs in Snakemake's own process, which holds only Snakemake, PyYAML and jsonschema; it checks every
name against these lists. tests/test_names.py checks that each list equals its registry (models, losses, scorers),
so a new backbone or loss is registered in its module and listed here once.
"""
from __future__ import annotations

from facebench.templates import NAMES as _TEMPLATE_NAMES

# backbone -> the keyword arguments it takes (models.<name>.backbone_args; input_size comes from the model's input)
BACKBONES: dict[str, tuple[str, ...]] = {
    "inception_resnet_v1": ("embedding_size", "input_size", "dropout", "normalize"),
    "iresnet": ("embedding_size", "input_size", "depth", "se", "dropout"),
    "iresnet18": ("embedding_size", "input_size", "dropout"),
    "iresnet34": ("embedding_size", "input_size", "dropout"),
    "iresnet50": ("embedding_size", "input_size", "dropout"),
    "iresnet100": ("embedding_size", "input_size", "dropout"),
    "iresnet200": ("embedding_size", "input_size", "dropout"),
    "irse8": ("embedding_size", "input_size", "pool_size"),
    "mobilefacenet": ("embedding_size", "input_size"),
    # a published ONNX file run by onnxruntime; its length and input.layout are filled in by the import, not config
    "onnx": ("output", "input_size"),
    "resnet18": ("embedding_size", "input_size"),
    "resnet50": ("embedding_size", "input_size"),
    "sphere20": ("embedding_size", "input_size", "batch_norm", "width"),
}

def _positive_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# backbone argument -> (what it must be, the check): refused at parse time with the first, as the network refuses it
ARG_RULES: dict[str, tuple[str, object]] = {
    "embedding_size": ("a positive integer", _positive_int),
    "pool_size": ("a positive integer", _positive_int),
    "depth": ("one of 18, 34, 50, 100 (iresnet's depths)", lambda v: _positive_int(v) and v in (18, 34, 50, 100)),
    "dropout": ("a number in [0, 1)", lambda v: _number(v) and 0 <= v < 1),
    "width": ("a number in (0, 4]", lambda v: _number(v) and 0 < v <= 4),
    "se": ("true or false", lambda v: isinstance(v, bool)),
    "batch_norm": ("true or false", lambda v: isinstance(v, bool)),
    "normalize": ("true or false", lambda v: isinstance(v, bool)),
    "output": ("an output name of the ONNX file (a string)", lambda v: isinstance(v, str) and v != ""),
}

# backbone -> (multiple, smallest side) its input_size must have: each stride-2 stage must divide the input exactly
# (facebench.models.shapes.check_input_size); irse8's smallest side is 16 x its pool_size; an ONNX model's input is
# checked against its file when imported. tests/test_names.py checks each rule against the built network.
INPUT_SIDES: dict[str, tuple[int, int]] = {
    "inception_resnet_v1": (1, 75),
    **{name: (16, 16) for name in ("iresnet", "iresnet18", "iresnet34", "iresnet50", "iresnet100", "iresnet200",
                                   "irse8", "mobilefacenet", "resnet18", "resnet50", "sphere20")},
}


def input_size_problem(backbone: str, size, backbone_args: dict) -> str | None:
    """Why ``backbone`` cannot take an input of ``size`` [h, w], in words, or None."""
    if backbone not in INPUT_SIDES:
        return None
    multiple, smallest = INPUT_SIDES[backbone]
    if backbone == "irse8":
        smallest *= int(backbone_args.get("pool_size", 2))
    h, w = (int(v) for v in size)
    if min(h, w) < smallest or h % multiple or w % multiple:
        rule = f"each side at least {smallest}" + (f" and a multiple of {multiple}" if multiple > 1 else "")
        return f"{backbone} cannot take a {h}x{w} input: {rule}"
    return None


# loss -> its options, by their config names (models.<name>.train.loss_args)
LOSSES: dict[str, tuple[str, ...]] = {
    "arcface": ("s", "m", "easy_margin", "focal_gamma"),
    "center": ("lambda", "center_lr", "focal_gamma"),
    "contrastive": ("margin", "normalize", "focal_gamma"),
    "cosface": ("s", "m", "focal_gamma"),
    "lsoftmax": ("m", "base", "gamma", "power", "lambda_min", "focal_gamma"),
    "norm-softmax": ("s", "focal_gamma"),
    "siamese": ("classifier", "classifier_args", "lambda", "margin", "normalize", "positive_power", "focal_gamma"),
    "softmax": ("focal_gamma",),
    "softmax-contrastive": ("lambda", "margin", "normalize", "focal_gamma"),
    "sphereface": ("m", "base", "gamma", "power", "lambda_min", "focal_gamma"),
    "triplet": ("margin", "mining", "normalize", "focal_gamma"),
}

# the losses a wrapping loss (siamese) can take as its ``classifier`` option: classifying, on single faces
CLASSIFIERS = ("arcface", "center", "cosface", "lsoftmax", "norm-softmax", "softmax", "sphereface")

SCORERS = ("cosine", "euclidean", "chi2-svm", "weighted-l1", "joint-bayesian")
# given: the faces an insightface .bin stores, already aligned (datasets of format BIN_FORMAT only)
ALIGNMENT_METHODS = ("landmarks", "center", "degrade", "box", "given")
BIN_FORMAT = "insightface-bin"  # the dataset format of insightface's .bin verification sets
# a model's input.template: the warp templates (facebench.templates.TEMPLATES) and the pseudo-template "box"
TEMPLATE_NAMES = tuple(sorted(_TEMPLATE_NAMES))
DETECTED = "mtcnn"  # the landmark source computed by the detector rather than read from a file
