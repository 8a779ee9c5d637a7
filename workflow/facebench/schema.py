"""The config schema (workflow/schemas/config.schema.yaml): the one place a pipeline default is written. The
``facebench`` commands take their defaults from here, so a command run by hand and the workflow agree."""
from __future__ import annotations

import copy
import functools
from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


@functools.cache
def load() -> dict:
    return yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))


def _resolve(node: dict, schema: dict) -> dict:
    while "$ref" in node:  # "#/definitions/name"
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _node(key: str) -> dict:
    """The schema of a dotted config key; ``*`` steps into a mapping's values (``datasets.*.frame``)."""
    schema = load()
    node = schema
    for part in key.split("."):
        node = _resolve(node, schema)
        node = node["additionalProperties"] if part == "*" else node.get("properties", {}).get(part)
        if node is None:
            raise KeyError(f"{key}: not a key of the config schema {SCHEMA}")
    return _resolve(node, schema)


def default(key: str):
    """The schema default of a dotted config key, e.g. ``detect.mtcnn.batch_size``. A key without a default is an
    error: the caller would otherwise guess one."""
    node = _node(key)
    if "default" not in node:
        raise KeyError(f"{key}: the config schema gives no default")
    return copy.deepcopy(node["default"])


def defaults(key: str) -> dict:
    """{option: default} of the options of the object at a dotted key (``models.*.train``) that have one."""
    return {k: copy.deepcopy(v["default"]) for k, v in _node(key).get("properties", {}).items() if "default" in v}
