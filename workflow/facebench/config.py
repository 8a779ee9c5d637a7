"""Config validation: the JSON schema (with its defaults filled in), then the cross-references a schema cannot
express. Every error names the config key, e.g. ``config key embed.batch_size: 'x' is not of type 'integer'``.

It runs in Snakemake's own process, which holds only Snakemake, PyYAML and jsonschema: registered names come from
``facebench.names`` and ``facebench.templates`` (plain data), never from the torch or OpenCV modules.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import yaml

from facebench import names, safe_pickle
from facebench.dataset_checks import BIN
from facebench.dataset_checks import format_problems as _format_problems
from facebench.dataset_checks import given_problems as _given_problems
from facebench.templates import BOX, backbone_args
from facebench.weights import ConversionError, open_container


class ConfigError(ValueError):
    pass


def _with_defaults(validator_class):
    """A validator that fills in schema defaults while it validates (the defaults are documentation too)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = _copy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _copy(value):
    return copy.deepcopy(value)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _best_message(err: jsonschema.ValidationError) -> str:
    # for oneOf/anyOf, the most specific sub-error says more than "is not valid under any of the given schemas"
    if err.context:
        best = jsonschema.exceptions.best_match(err.context)
        if err.validator == "oneOf" and all(e.validator == "required" for e in err.context):
            return f"needs exactly one of {sorted({e.message.split(chr(39))[1] for e in err.context})}"
        return best.message
    return err.message


def validate_schema(config: dict, schema_path: str | Path) -> None:
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    validator = _with_defaults(jsonschema.Draft7Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.path))))
    if errors:
        lines = [f"config key {_key(e.absolute_path)}: {_best_message(e)}" for e in errors[:10]]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))


DETECTED = names.DETECTED


def check_references(config: dict) -> None:
    """Names that point elsewhere in the config, and names the code registers."""
    problems = []
    datasets, models, alignments = config["datasets"], config["models"], config["alignments"]
    for name, model in models.items():
        if model["backbone"] not in names.BACKBONES:
            problems.append(f"config key models.{name}.backbone: unknown backbone {model['backbone']!r}; "
                            f"registered: {', '.join(sorted(names.BACKBONES))}")
        else:
            accepted = names.BACKBONES[model["backbone"]]
            for arg, value in model.get("backbone_args", {}).items():
                if arg not in accepted:
                    problems.append(f"config key models.{name}.backbone_args.{arg}: {model['backbone']} takes no "
                                    f"argument {arg!r}; its arguments: {', '.join(accepted)}")
                elif arg in names.ARG_RULES and not names.ARG_RULES[arg][1](value):
                    problems.append(f"config key models.{name}.backbone_args.{arg}: {value!r} is not "
                                    f"{names.ARG_RULES[arg][0]}")
        if model["input"]["template"] not in names.TEMPLATE_NAMES:
            problems.append(f"config key models.{name}.input.template: unknown template")
        elif model["input"]["template"] == BOX and not model["input"].get("size"):
            problems.append(f"config key models.{name}.input.size: template {BOX!r} needs input.size ([h, w]): a box "
                            "crop's size is its alignment's, the template has none")
        if "train" in model:
            problems += _train_problems(name, model, config)
        if "weights" in model:
            problems += _weights_problems(name, model["weights"])
        problems += _onnx_problems(name, model, models)
        if model["input"]["template"] in names.TEMPLATE_NAMES and \
                (model["input"]["template"] != BOX or model["input"].get("size")):
            try:
                args = backbone_args(model, f"models.{name}")
            except ValueError as err:
                problems.append(f"config key {err}")
            else:
                why = names.input_size_problem(model["backbone"], args["input_size"], args)
                if why:
                    source = "input.size" if model["input"].get("size") else "its template's crop, input.size unset"
                    problems.append(f"config key models.{name}.input: {why} ({source})")
    for name, spec in alignments.items():
        if spec["method"] == "given":
            problems += [f"config key alignments.{name}.{k}: method 'given' takes no {k} (the faces come aligned, "
                         "as the .bin stores them)" for k in ("landmarks", "source", "size") if k in spec]
        if spec["method"] == "landmarks" and "landmarks" not in spec:
            problems.append(f"config key alignments.{name}.landmarks: method 'landmarks' needs a landmark source")
        if spec["method"] == "degrade":
            if "size" not in spec:
                problems.append(f"config key alignments.{name}.size: method 'degrade' needs a size (px)")
            if alignments.get(spec.get("source"), {}).get("method") in (None, "degrade"):
                problems.append(f"config key alignments.{name}.source: {spec.get('source')!r} must name an alignment "
                                "by landmarks or centre crop (or box)")
        problems += _box_alignment_problems(name, spec)
    alignments = {n: base_alignment(alignments, n) for n in alignments}  # landmark checks look through degrade
    for name, ds in datasets.items():
        if DETECTED in ds.get("landmarks", {}):
            problems.append(f"config key datasets.{name}.landmarks.{DETECTED}: the name is reserved for the detector")
        problems += _format_problems(name, ds)
        for proto, vspec in ds.get("verification", {}).items():
            if ds.get("format") == BIN:  # its pairs are the .bin's own (_format_problems refuses a pairs key)
                pass
            elif "pairs" not in vspec:
                problems.append(f"config key datasets.{name}.verification.{proto}.pairs: required (a key of "
                                f"datasets.{name}.files)")
            elif vspec["pairs"] not in ds.get("files", {}):
                problems.append(f"config key datasets.{name}.verification.{proto}.pairs: {vspec['pairs']!r} is not "
                                f"a key of datasets.{name}.files")
            dev = vspec.get("dev")  # the development set whose threshold this protocol is tested at
            if dev is not None and (dev == proto or dev not in ds["verification"]):
                problems.append(f"config key datasets.{name}.verification.{proto}.dev: {dev!r} is not another key "
                                f"of datasets.{name}.verification")
        problems += _split_problems(name, ds)
    for i, entry in enumerate(config["evaluate"]):
        where = f"config key evaluate.{i}"
        if entry["model"] not in models:
            problems.append(f"{where}.model: {entry['model']!r} is not a key of models")
        if entry["dataset"] not in datasets:
            problems.append(f"{where}.dataset: {entry['dataset']!r} is not a key of datasets")
            continue
        for a in entry["alignments"]:
            if a not in alignments:
                problems.append(f"{where}.alignments: {a!r} is not a key of alignments")
                continue
            if entry["model"] in models:
                problems += _template_problems(f"{where}.alignments", a, alignments[a], entry["model"],
                                               models[entry["model"]])
            problems += _given_problems(f"{where}.alignments", a, alignments[a], entry["dataset"],
                                        datasets[entry["dataset"]])
            if alignments[a]["method"] not in ("landmarks", "box") or "landmarks" not in alignments[a]:
                continue
            elif alignments[a]["landmarks"] == DETECTED:
                if DETECTED not in config.get("detect", {}):
                    problems.append(f"{where}.alignments: {a!r} uses MTCNN landmarks, but config key detect.mtcnn "
                                    "(its weights) is missing")
            elif alignments[a]["landmarks"] not in datasets[entry["dataset"]].get("landmarks", {}):
                problems.append(f"{where}.alignments: {a!r} needs landmark source {alignments[a]['landmarks']!r}, "
                                f"which datasets.{entry['dataset']}.landmarks does not have")
    problems += _study_problems(config)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _study_problems(config: dict) -> list[str]:
    """Every model a report study compares is evaluated on the study's dataset, protocol and alignment."""
    out = []
    evaluated = {(e["model"], e["dataset"], a) for e in config["evaluate"] for a in e["alignments"]}
    for name, study in config.get("report", {}).get("studies", {}).items():
        where = f"config key report.studies.{name}"
        ds = config["datasets"].get(study["dataset"])
        if ds is None:
            out.append(f"{where}.dataset: {study['dataset']!r} is not a key of datasets")
        elif study["protocol"] not in ds.get("verification", {}):
            out.append(f"{where}.protocol: {study['protocol']!r} is not a key of "
                       f"datasets.{study['dataset']}.verification")
        for m in study["models"]:
            if (m, study["dataset"], study["alignment"]) not in evaluated:
                out.append(f"{where}.models: {m!r} is not evaluated on {study['dataset']} with alignment "
                           f"{study['alignment']!r} (config key evaluate)")
    return out


def base_alignment(alignments: dict, name: str) -> dict:
    """The alignment a store's faces were cut by: a degrade alignment's source, else the alignment itself."""
    spec = alignments[name]
    if spec["method"] == "degrade" and spec.get("source") in alignments:
        return alignments[spec["source"]]
    return spec


def _box_alignment_problems(name: str, spec: dict) -> list[str]:
    """A box alignment (the detector's box with a margin, no warp) names the detector's landmarks, which alone carry
    boxes, and gives its margin and size; margin is an option of method box only."""
    where = f"config key alignments.{name}"
    if spec["method"] != "box":
        return [f"{where}.margin: an option of method 'box', not {spec['method']!r}"] if "margin" in spec else []
    out = []
    if spec.get("landmarks") != DETECTED:
        got = f"{spec['landmarks']!r} has no boxes (a provided landmark source)" if "landmarks" in spec else "missing"
        out.append(f"{where}.landmarks: method 'box' cuts the detector's boxes, so it needs landmarks: {DETECTED}; "
                   f"{got}")
    if "size" not in spec:
        out.append(f"{where}.size: method 'box' needs a size (the crop's side, px)")
    elif spec["size"] < 16:
        out.append(f"{where}.size: {spec['size']} is below 16 px, the smallest box crop")
    if "margin" not in spec:
        out.append(f"{where}.margin: method 'box' needs a margin (px of the crop around the box; 0 for none)")
    elif "size" in spec and spec["margin"] >= spec["size"]:
        out.append(f"{where}.margin: {spec['margin']} must be less than size {spec['size']}")
    return out


def _template_problems(where: str, alignment_name: str, alignment: dict, model_name: str, model: dict) -> list[str]:
    """A model of template box takes the faces of box alignments only, and a box alignment serves only such models
    (``alignment`` is the one the faces were cut by: a degrade alignment's source)."""
    template = model["input"]["template"]
    if template == BOX and alignment["method"] != "box":
        return [f"{where}: {alignment_name!r} is cut by method {alignment['method']!r}, but "
                f"models.{model_name}.input.template is {BOX!r}, which takes the faces of box alignments only"]
    if template != BOX and alignment["method"] == "box":
        return [f"{where}: {alignment_name!r} is a box alignment (the detector's box, no warp), but "
                f"models.{model_name}.input.template is {template!r}; box alignments serve models of template "
                f"{BOX!r}"]
    return []


def _split_problems(name: str, ds: dict) -> list[str]:
    """The identity split's shares sum to 1, and the parts training and identification name exist."""
    out, split = [], ds.get("split")
    if split and abs(sum(split["fractions"].values()) - 1) > 1e-6:
        out.append(f"config key datasets.{name}.split.fractions: shares sum to {sum(split['fractions'].values()):g}, "
                   "not 1")
    for use, default in (("training", "train"), ("identification", "test")):
        spec = ds.get(use) or {}
        if spec.get("people") and spec.get("part"):
            out.append(f"config key datasets.{name}.{use}: give 'people' or 'part', not both")
        elif spec.get("part") and not split:
            out.append(f"config key datasets.{name}.{use}.part: needs an identity split (datasets.{name}.split)")
        elif split and not spec.get("people") and ds.get(use) is not None and \
                spec.get("part", default) not in split["fractions"]:
            out.append(f"config key datasets.{name}.{use}.part: {spec.get('part', default)!r} is not a part of "
                       f"datasets.{name}.split.fractions")
    return out


def _weights_problems(name: str, weights: dict) -> list[str]:
    """A published checkpoint's import options (facebench.models.convert) that can be checked without torch: map's
    value, that every rename rule (pattern and replacement) and drop pattern compiles, and, for a local file in
    torch's zip format, that container names a mapping in it (read by facebench.safe_pickle, which runs nothing and
    needs no torch; a download, an archive member or a legacy-format file is checked by the import)."""
    where, out = f"config key models.{name}.weights", []
    local = Path(weights["path"]) if "path" in weights and "member" not in weights else None
    if weights.get("container") and local is not None and local.is_file():
        try:
            loaded = safe_pickle.torch_file_object(local)
            if loaded is not None:
                open_container(loaded, weights["container"], f"models.{name}.weights", str(local))
        except ConversionError as err:  # it names the key itself
            out.append(str(err))
        except ValueError as err:  # not a torch file at all
            out.append(f"{where}.path: {err}")
    if "map" in weights and weights["map"] != "by-order":
        out.append(f"{where}.map: {weights['map']!r} is not a way to match tensors; the one there is: 'by-order' "
                   "(without map: by name)")

    def compiled(pattern, key):
        try:
            return re.compile(pattern)
        except re.error as err:
            out.append(f"{where}.{key}: {pattern!r} is not a regular expression ({err})")

    for i, rule in enumerate(weights.get("rename", [])):
        pattern = compiled(rule["pattern"], f"rename[{i}].pattern")
        try:
            if pattern is not None:
                pattern.sub(rule["replace"], "")  # parses the replacement: escapes, group references
        except (re.error, IndexError) as err:
            out.append(f"{where}.rename[{i}].replace: {rule['replace']!r} does not fit its pattern ({err})")
    for i, pattern in enumerate(weights.get("drop", [])):
        compiled(pattern, f"drop[{i}]")
    return out


ONNX = "onnx"  # the backbone that runs a published ONNX file (facebench.models.onnx_backbone)


def _onnx_problems(name: str, model: dict, models: dict) -> list[str]:
    """An ONNX model is a fixed graph run by onnxruntime: imported (weights), never trained, nor the start of a
    fine-tuning run; and only it can take its faces channels-last (input.layout nhwc)."""
    where, out = f"config key models.{name}", []
    onnx = model["backbone"] == ONNX
    if not onnx and model["input"].get("layout", "nchw") != "nchw":
        out.append(f"{where}.input.layout: {model['input']['layout']!r} is for ONNX models (backbone onnx); "
                   f"{model['backbone']} takes nchw")
    if onnx and "train" in model:
        out.append(f"{where}.train: backbone onnx runs a published ONNX file through onnxruntime and cannot be "
                   f"trained; give {where}.weights (its file) instead")
    init = model.get("train", {}).get("init")
    if init in models and init != name and models[init]["backbone"] == ONNX:
        out.append(f"{where}.train.init: {init!r} is an ONNX model (backbone onnx), whose weights torch cannot train")
    return out


def _train_problems(name: str, model: dict, config: dict) -> list[str]:
    """A trained model's references: its dataset (with a training list), alignment, loss and init model."""
    t, where, out = model["train"], f"config key models.{name}.train", []
    ds = config["datasets"].get(t["dataset"])
    if ds is None:
        out.append(f"{where}.dataset: {t['dataset']!r} is not a key of datasets")
    elif "training" not in ds:
        out.append(f"{where}.dataset: datasets.{t['dataset']} has no training list (datasets.{t['dataset']}.training)")
    known = t["alignment"] in config["alignments"]
    alignment = base_alignment(config["alignments"], t["alignment"]) if known else None
    if alignment is None:
        out.append(f"{where}.alignment: {t['alignment']!r} is not a key of alignments")
    elif ds is not None and alignment["method"] == "landmarks" and alignment["landmarks"] != DETECTED and \
            alignment["landmarks"] not in ds.get("landmarks", {}):
        out.append(f"{where}.alignment: {t['alignment']!r} needs landmark source {alignment['landmarks']!r}, which "
                   f"datasets.{t['dataset']}.landmarks does not have")
    if alignment is not None:
        out += _template_problems(f"{where}.alignment", t["alignment"], alignment, name, model)
    v = t.get("validate") or {}
    if v.get("alignment") in config["alignments"]:  # the validation faces are cut at the model's template too
        out += _template_problems(f"{where}.validate.alignment", v["alignment"],
                                  base_alignment(config["alignments"], v["alignment"]), name, model)
    if t["loss"] not in names.LOSSES:
        out.append(f"{where}.loss: unknown loss {t['loss']!r}; registered: {', '.join(sorted(names.LOSSES))}")
    else:  # an unknown option fails here, before any job runs; its value is checked by the loss, in the job
        accepted = names.LOSSES[t["loss"]]
        for option in t.get("loss_args", {}):
            if option not in accepted:
                out.append(f"{where}.loss_args: loss {t['loss']!r} has no option {option!r}; its options: "
                           f"{', '.join(accepted)}")
        classifier = t.get("loss_args", {}).get("classifier")
        if "classifier" in accepted and classifier is not None and classifier not in names.CLASSIFIERS:
            out.append(f"{where}.loss_args: loss {t['loss']!r}: option classifier must be a classifying loss, one of "
                       f"{', '.join(names.CLASSIFIERS)}; got {classifier!r}")
    init = t.get("init")
    if init is not None and (init not in config["models"] or init == name):
        out.append(f"{where}.init: {init!r} is not another key of models")
    if t.get("trainable", "all") != "all" and init is None:
        out.append(f"{where}.trainable: {t['trainable']!r} freezes the backbone, which needs {where}.init")
    return out + _validate_problems(t.get("validate"), f"{where}.validate", config)


def _validate_problems(v: dict | None, where: str, config: dict) -> list[str]:
    """A training run's validation protocol: a dataset's verification protocol and an alignment."""
    if v is None:
        return []
    out, ds = [], config["datasets"].get(v["dataset"])
    if ds is None:
        out.append(f"{where}.dataset: {v['dataset']!r} is not a key of datasets")
    elif v["protocol"] not in ds.get("verification", {}):
        out.append(f"{where}.protocol: {v['protocol']!r} is not a key of datasets.{v['dataset']}.verification")
    if v["alignment"] not in config["alignments"]:
        out.append(f"{where}.alignment: {v['alignment']!r} is not a key of alignments")
    elif ds is not None:
        out += _given_problems(f"{where}.alignment", v["alignment"],
                               base_alignment(config["alignments"], v["alignment"]), v["dataset"], ds)
    return out


def check_paths(config: dict) -> None:
    """Every local file or folder the config names (a ``path`` key) exists, relative to the working directory, so
    that a missing dataset folder stops the run before its first job; raises ConfigError naming each missing one."""
    problems = []

    def walk(node, where):
        if isinstance(node, dict):
            if isinstance(node.get("path"), str) and not Path(node["path"]).exists():
                problems.append(f"config key {_key(where + ['path'])}: {node['path']} does not exist "
                                f"(relative paths are read from {Path.cwd()})")
            for key, value in node.items():
                walk(value, where + [key])
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, where + [i])

    walk(config, [])
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Validate ``config`` in place (filling defaults), then its cross-references; raises ConfigError naming every
    bad key. Plain data only, so every Snakemake process (a cluster job's too) runs it in milliseconds."""
    validate_schema(config, schema_path)
    check_references(config)
    return config
