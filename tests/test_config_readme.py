"""config/README.md is generated from the config schema (workflow/scripts/config_readme.py) and kept in step with it:
every key, its type, default and description."""
from __future__ import annotations

import importlib.util

import pytest
import yaml
from conftest import ROOT

SCRIPT = ROOT / "workflow" / "scripts" / "config_readme.py"


def generator():
    spec = importlib.util.spec_from_file_location("config_readme", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_config_readme_is_what_the_schema_gives():
    expected = generator().render()
    readme = ROOT / "config" / "README.md"
    assert readme.is_file() and readme.read_text(encoding="utf-8") == expected, (
        "config/README.md is out of date with workflow/schemas/config.schema.yaml: run "
        "`python workflow/scripts/config_readme.py` and commit the result")


def test_every_schema_key_is_in_the_readme_with_its_default():
    gen = generator()
    text = gen.render()
    schema = yaml.safe_load(gen.SCHEMA.read_text(encoding="utf-8"))
    for key in ("profile", "detect.mtcnn.threads", "embed.threads", "align.threads", "analysis.threads",
                "analysis.tsne_threads", "report.published_roc.path", "evaluate[].alignments"):
        assert f"| `{key}` |" in text, key
    for name in ("source", "dataset", "model", "train"):
        assert f"\n## {name}\n" in text
        for prop in schema["definitions"][name]["properties"]:
            assert f"| `{prop}` |" in text or f"| `{prop}." in text, (name, prop)
    assert "| `embed.threads` | integer, ≥ 1 | `2` |" in text
    assert "Needs exactly one of `url`, `path`, `pip`." in text


def test_a_key_without_a_description_is_refused():
    schema = {"type": "object", "properties": {"seed": {"type": "integer", "description": "the seed"},
                                               "nested": {"type": "object", "description": "a group",
                                                          "properties": {"x": {"type": "number"}}}}}
    with pytest.raises(ValueError, match=r"keys without a description: nested\.x$"):
        generator().render(schema)
