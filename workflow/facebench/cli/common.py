"""What the stage commands share: argument types, list files, provenance stamped into results."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def json_arg(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from None


def read_lines(path: str) -> list[str]:
    return [ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]


def read_manifest(path):
    from facebench.io import read_json

    return read_json(path)


def read_identification(path) -> tuple[list[str], list[str]]:
    """The paths and identities of an identification list (TSV with columns path, identity)."""
    from facebench.io import read_tsv

    header, rows = read_tsv(path, expect=["path", "identity"])
    return [r[header.index("path")] for r in rows], [r[header.index("identity")] for r in rows]


def provenance_inputs(*paths) -> dict:
    from facebench.io import sha256_file

    return {str(p): sha256_file(p) for p in paths if p}


def add_provenance(result: dict, meta: dict | None, *inputs) -> None:
    """Merge the rule's provenance (``--meta``), the sha256 of the files it read, the code version and the package
    versions into a result."""
    if meta:
        from facebench.report.provenance import git_version, package_versions

        result.update(meta)
        prov = result.setdefault("provenance", {})
        prov["inputs"] = provenance_inputs(*inputs)
        prov["code"] = git_version()
        prov["packages"] = package_versions()


def finish(result: dict, a, *inputs) -> None:
    """Add the provenance to an analysis result and write it."""
    from facebench.io import write_json

    add_provenance(result, a.meta, *inputs)
    write_json(a.out, result)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, (dict, list))}))


def with_config(meta: dict | None, **values) -> dict:
    """A copy of a rule's --meta whose provenance config also records ``values`` (one output's feature mode, ...)."""
    meta = dict(meta or {})
    prov = dict(meta.get("provenance", {}))
    prov["config"] = {**prov.get("config", {}), **values}
    meta["provenance"] = prov
    return meta
