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
ALIGNMENT_METHODS = ("landmarks", "center", "degrade", "box")
# a model's input.template: the warp templates (facebench.templates.TEMPLATES) and the pseudo-template "box"
TEMPLATE_NAMES = tuple(sorted(_TEMPLATE_NAMES))
DETECTED = "mtcnn"  # the landmark source computed by the detector rather than read from a file
