"""Write config/README.md from the config schema (workflow/schemas/config.schema.yaml): every key with its type,
default and description, nested keys as dotted paths, each shared definition (a source, a dataset, a model, a
training run) in a section of its own.

    python workflow/scripts/config_readme.py            # rewrite config/README.md
    python workflow/scripts/config_readme.py --check    # exit 1 if config/README.md is not what the schema gives

Imports only PyYAML (and the standard library): it runs wherever Snakemake does. A key without a description is an
error, so the README cannot silently lose one.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
README = ROOT / "config" / "README.md"
COMMAND = "python workflow/scripts/config_readme.py"

INTRO = f"""\
# Configuration

<!-- Generated from workflow/schemas/config.schema.yaml by `{COMMAND}`: edit the schema, not this file. -->

A run reads one config file: `config.yaml` (the benchmark from public sources) unless `--configfile` names another,
such as a profile of this folder; a `--configfile` replaces `config.yaml` as a whole, and `--config key=value` settings
are merged into it. The file is checked against the schema before any job starts, with the defaults below filled in;
an error names the config key. Relative paths are read from the working directory (`snakemake --directory`).

Keys are written as dotted paths: `<name>` stands for a key of your choosing (a dataset's or a model's name, say),
`[]` for every item of a list.

"""


def resolve(node: dict, schema: dict) -> tuple[str | None, dict]:
    """(the definition's name or None, the node behind any $ref)."""
    name = None
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        node = schema["definitions"][name]
    return name, node


def is_section(node: dict) -> bool:
    """A definition documented in a section of its own (an object), rather than inline (a scalar such as sha256)."""
    return node.get("type") == "object" or "properties" in node


def flow(value) -> str:
    """A value as YAML flow text, the way the config files write it."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


def bounds(node: dict) -> list[str]:
    out = []
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in node:
            out.append(f"{sign} {node[key]}")
    if "multipleOf" in node:
        out.append(f"multiple of {node['multipleOf']}")
    if "pattern" in node:
        out.append(f"matching `{node['pattern']}`")
    if "minLength" in node:
        out.append("not empty" if node["minLength"] == 1 else f"at least {node['minLength']} characters")
    return out


def type_of(node: dict, schema: dict) -> str:
    name, node = resolve(node, schema)
    if name and is_section(node):
        return f"[{name}](#{name})"
    if "enum" in node:
        return "one of " + ", ".join(f"`{flow(v)}`" for v in node["enum"])
    kind = node.get("type")
    if kind == "array":
        items = type_of(node.get("items", {}), schema)
        lo, hi = node.get("minItems"), node.get("maxItems")
        head, sep, rest = items.partition(",")
        if head in PLURAL:  # "list of 3 numbers, ≥ 0"
            items = PLURAL[head] + sep + rest
        elif items.startswith("one of "):
            items = "items " + items
        size = f"{lo} " if lo is not None and lo == hi else ""
        text = f"list of {size}{items}" if not items.startswith("items ") else f"list of {size}{items}".replace(
            "list of items", "list, items", 1)
        if lo and lo != hi:
            text += f" (at least {lo})"
        return text
    if kind == "object" or "properties" in node or "additionalProperties" in node:
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and not node.get("properties"):
            return f"mapping: name → {type_of(extra, schema)}"
        return "mapping"
    text = " or ".join(kind) if isinstance(kind, list) else (kind or "any")
    if name:  # a scalar definition, e.g. sha256
        text = f"{text} ({name})"
    return ", ".join([text, *bounds(node)])


PLURAL = {"number": "numbers", "integer": "integers", "string": "strings", "boolean": "booleans", "mapping": "mappings"}


def cell(text: str) -> str:
    """One table cell: one line, pipes escaped, and outside `code` the < > of placeholders such as <name> kept
    visible (Markdown would take them for HTML)."""
    spans = " ".join(str(text).split()).replace("|", "\\|").split("`")
    spans[::2] = [t.replace("<", "&lt;").replace(">", "&gt;") for t in spans[::2]]
    return "`".join(spans)


class Table:
    def __init__(self, schema: dict):
        self.schema = schema
        self.rows: list[tuple[str, str, str, str]] = []
        self.missing: list[str] = []

    def add(self, key: str, node: dict, required: bool, where: str) -> None:
        name, resolved = resolve(node, self.schema)
        description = node.get("description") or resolved.get("description", "")
        if not description:
            self.missing.append(where)
        if required:
            description = f"**Required.** {description}"
        default = f"`{flow(node['default'])}`" if "default" in node else ""
        self.rows.append((f"`{key}`", type_of(node, self.schema), default, description))
        if name and is_section(resolved):
            return  # documented in its own section
        self.children(key, resolved, where)

    def children(self, key: str, node: dict, where: str) -> None:
        required = set(node.get("required", []))
        prefix = f"{key}." if key else ""
        for child, sub in node.get("properties", {}).items():
            self.add(f"{prefix}{child}", sub, child in required, f"{where}.{child}" if where else child)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            _, inner = resolve(extra, self.schema)
            if inner.get("properties") and not (extra.get("$ref") and is_section(inner)):
                self.children(f"{prefix}<name>", inner, f"{where}.<name>")
        items = node.get("items")
        if node.get("type") == "array" and isinstance(items, dict):
            _, inner = resolve(items, self.schema)
            if inner.get("properties") and not (items.get("$ref") and is_section(inner)):
                self.children(f"{key}[]", inner, f"{where}[]")

    def markdown(self) -> str:
        lines = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"


def one_of_note(node: dict) -> str:
    """The definition's oneOf of required keys, as a sentence (a source needs exactly one of url, path, pip)."""
    options = [alt["required"] for alt in node.get("oneOf", []) if set(alt) == {"required"}]
    if not options:
        return ""
    return "Needs exactly one of " + ", ".join(" + ".join(f"`{k}`" for k in keys) for keys in options) + ".\n\n"


def render(schema: dict | None = None) -> str:
    """The README text; raises ValueError naming every key that has no description."""
    schema = schema if schema is not None else yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    missing: list[str] = []
    parts = [INTRO, "## Top-level keys\n\n"]
    top = Table(schema)
    top.children("", schema, "")
    parts.append(top.markdown())
    missing += top.missing
    for name, node in schema.get("definitions", {}).items():
        if not is_section(node):
            continue
        table = Table(schema)
        table.children("", node, f"definitions.{name}")
        missing += table.missing
        if not node.get("description"):
            missing.append(f"definitions.{name}")
        parts += [f"\n## {name}\n\n", cell(node.get("description", "")) + "\n\n", one_of_note(node),
                  table.markdown()]
    if missing:
        raise ValueError(f"{SCHEMA}: keys without a description: {', '.join(missing)}")
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only compare config/README.md with the schema")
    args = p.parse_args(argv)
    text = render()
    if args.check:
        if not README.is_file() or README.read_text(encoding="utf-8") != text:
            print(f"{README} is out of date: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    README.write_text(text, encoding="utf-8")
    print(f"wrote {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
