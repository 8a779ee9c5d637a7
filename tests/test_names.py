"""The light name lists that config validation reads (facebench.names, facebench.templates) equal what the code
registers, and reading them imports neither torch, numpy nor OpenCV (Snakemake's own process has none of them)."""
from __future__ import annotations

import inspect
import keyword
import subprocess
import sys

import facebench.losses  # noqa: F401  (registers every loss)
import facebench.models  # noqa: F401  (registers every backbone)
from conftest import ROOT
from facebench import align, names, templates
from facebench.evaluate import scorers
from facebench.losses.registry import _LOSSES
from facebench.models.registry import _BACKBONES


def keyword_args(fn) -> tuple[str, ...]:
    """The keyword arguments a constructor takes, by their config names (``lambda_`` is ``lambda``)."""
    out = []
    for name, p in inspect.signature(fn).parameters.items():
        if name == "self" or p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) or p.default is p.empty:
            continue
        out.append(name[:-1] if name.endswith("_") and keyword.iskeyword(name[:-1]) else name)
    return tuple(out)


def test_backbones_and_their_arguments_equal_the_registry():
    assert names.BACKBONES == {n: keyword_args(cls.__init__) for n, cls in _BACKBONES.items()}


def test_losses_and_their_options_equal_the_registry():
    options = {n: tuple(a for a in keyword_args(cls.__init__) if a != "num_classes") for n, cls in _LOSSES.items()}
    assert names.LOSSES == options
    assert set(names.CLASSIFIERS) == {n for n, c in _LOSSES.items() if c.classifies and not c.needs_pairs}


def test_scorers_templates_and_methods_equal_the_code():
    assert names.SCORERS == scorers.SCORERS
    assert set(names.TEMPLATE_NAMES) == set(templates.TEMPLATES) | {templates.BOX}  # warp templates and "box"
    for name in templates.TEMPLATES:  # the array form align warps with is the same data
        assert align.template(name).points.tolist() == [list(p) for p in templates.TEMPLATES[name]["points"]]
    schema = __import__("facebench.schema", fromlist=["load"]).load()
    schema_methods = schema["properties"]["alignments"]["additionalProperties"]["properties"]["method"]["enum"]
    assert tuple(schema_methods) == names.ALIGNMENT_METHODS
    assert set(align.METHODS) | {"degrade"} == set(names.ALIGNMENT_METHODS)
    schema_templates = schema["definitions"]["model"]["properties"]["input"]["properties"]["template"]["enum"]
    assert set(schema_templates) == set(names.TEMPLATE_NAMES)


def test_config_validation_imports_no_heavy_package():
    code = ("import sys; import facebench.config, facebench.names, facebench.templates, facebench.schema; "
            "heavy = sorted({'torch', 'numpy', 'cv2', 'skimage', 'scipy', 'sklearn', 'PIL'} & set(sys.modules)); "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT / "workflow")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"config validation imports {out.stdout.strip()}"


def test_the_light_input_size_rules_agree_with_the_networks():
    """Config refuses at parse time exactly the input sizes each network refuses when built (and takes the rest)."""
    from facebench.models import build

    for backbone, (multiple, smallest) in names.INPUT_SIDES.items():
        args = {"pool_size": 1} if backbone == "irse8" else {}
        smallest = smallest * args.get("pool_size", 2) if backbone == "irse8" else smallest
        for size in ([smallest, smallest], [smallest + multiple, smallest], [smallest - 1, smallest + multiple],
                     [smallest + multiple + 8, smallest + multiple]):
            refused = names.input_size_problem(backbone, size, args)
            try:
                build(backbone, input_size=size, **args)
                built = None
            except ValueError as err:
                built = str(err)
            assert (refused is None) == (built is None), (backbone, size, refused, built)


BAD_VALUES = {"embedding_size": [0, -3, 1.5, True], "pool_size": [0, 2.5], "depth": [7, 152, "50"],
              "dropout": [1.0, -0.1, "0.2"], "width": [0, 5, "1"], "se": [1, "yes"], "batch_norm": [0, "no"],
              "normalize": [1, "no"], "output": ["", 3]}
GOOD_VALUES = {"embedding_size": 64, "pool_size": 1, "depth": 34, "dropout": 0.2, "width": 0.5, "se": True,
               "batch_norm": True, "normalize": False, "output": "embedding"}
LENIENT = {"se", "batch_norm"}  # the network casts these with bool(); config still wants true or false


def test_backbone_argument_rules_refuse_what_the_networks_refuse():
    """Every rule refuses its bad values at parse time, and each network refuses them too when built (but the
    booleans it casts); every good value passes both. The iresnet depths are the network's own."""
    from facebench.models import build
    from facebench.models.iresnet import UNITS

    assert set(BAD_VALUES) == set(names.ARG_RULES) == set(GOOD_VALUES)
    assert "18, 34, 50, 100" in names.ARG_RULES["depth"][0] and sorted(UNITS) == [18, 34, 50, 100]
    for backbone, accepted in names.BACKBONES.items():
        if backbone == "onnx":
            continue  # built by the import from a file
        size = [160, 160] if backbone == "inception_resnet_v1" else [112, 112]
        for arg in set(accepted) & set(names.ARG_RULES):
            describe, check = names.ARG_RULES[arg]
            assert check(GOOD_VALUES[arg]), arg
            build(backbone, input_size=size, **{arg: GOOD_VALUES[arg]})
            for bad in BAD_VALUES[arg]:
                assert not check(bad), (arg, bad)
                if arg not in LENIENT:
                    try:
                        build(backbone, input_size=size, **{arg: bad})
                    except (ValueError, TypeError, KeyError):
                        continue
                    raise AssertionError(f"{backbone} built with {arg}={bad!r}, which config refuses ({describe})")
