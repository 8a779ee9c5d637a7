"""CPLFW (format cplfw): CALFW's reader with CPLFW's names, on a tree in CPLFW's release layout made from the CALFW
fixture (tests/calfw_fixture.py: LFW images, the real ones or the generated ones; plumbing either way):
``CPLFW/images/<Name>_<N>.jpg`` (unpadded numbers), ``CPLFW/points/<stem>_5loc_attri.txt`` and ``pairs_CPLFW.txt``
(two ``image label`` lines per pair, label 1 same, 0 different)."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import calfw_fixture
import pytest
import yaml
from facebench import align, landmarks
from facebench.config import validate_config
from facebench.data import calfw, formats, protocols
from facebench.data.fetch import fetch_dataset
from facebench.io import read_tsv, sha256_file

ROOT = Path(__file__).resolve().parents[1]
FRAME = (150, 150)


def cplfw_name(name: str) -> str:
    """``Aaron_Eckhart_0001.jpg`` -> ``Aaron_Eckhart_1.jpg`` (CPLFW does not pad its image numbers)."""
    return re.sub(r"_0*(\d+)(\.jpg|_5loc_attri\.txt)$", r"_\1\2", name)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("cplfw")
    fx = calfw_fixture.build(base / "calfw")
    root = base / "CPLFW"
    (root / "images").mkdir(parents=True)
    (root / "points").mkdir()
    for f in fx.images.iterdir():
        f.rename(root / "images" / cplfw_name(f.name))
    for f in fx.landmarks.iterdir():
        f.rename(root / "points" / cplfw_name(f.name))
    lines = []
    for line in fx.pairs.read_text().splitlines():
        image, label = line.split()
        lines.append(f"{cplfw_name(image)} {int(label != '0')}")
    (base / "pairs_CPLFW.txt").write_text("\n".join(lines) + "\n")
    return base, fx


def spec(base: Path) -> dict:
    pairs = base / "pairs_CPLFW.txt"
    return {"format": "cplfw", "frame": list(FRAME), "images": {"path": str(base / "CPLFW/images")},
            "files": {"pairs": {"path": str(pairs), "sha256": sha256_file(pairs)}},
            "landmarks": {"provided": {"path": str(base / "CPLFW/points")}},
            "verification": {"cplfw": {"pairs": "pairs"}}, "on_missing_image": "fail"}


def test_names_are_cplfws_unpadded_ones():
    assert calfw.identity("Aaron_Eckhart_1.jpg", kind="CPLFW") == "Aaron_Eckhart"
    assert formats.get("cplfw").identity("Jean-Pierre_Raffarin_12.jpg") == "Jean-Pierre_Raffarin"
    with pytest.raises(ValueError, match="not a CPLFW image name '<Name>_<N>.jpg'"):
        formats.get("cplfw").identity("Aaron.jpg")
    with pytest.raises(ValueError, match="not a CALFW image name"):
        formats.get("calfw").identity("Aaron_Eckhart_1.jpg")  # CALFW's names keep LFW's four digits


def test_fetch_pairs_landmarks_and_alignment(tree, tmp_path):
    base, fx = tree
    m = fetch_dataset("cplfw", spec(base), tmp_path / "data")
    images = (tmp_path / "data/images.txt").read_text().split()
    assert m["format"] == "cplfw" and images == sorted(cplfw_name(n) for n in fx.all_images)
    assert m["files"]["landmarks-provided"]["n_files"] == len(images) - 1

    out = tmp_path / "pairs-cplfw.tsv"
    summary = protocols.write_pairs_protocol(m["files"]["pairs"]["path"], {"pairs": "pairs"}, set(images), out,
                                             fmt="cplfw")
    assert summary["pairs"] == 40 and summary["same"] == 20 and summary["folds"] == 10
    assert summary["folds_from"] == "10 balanced folds"
    header, rows = read_tsv(out)
    assert [(r[1], r[2]) for r in rows if r[3] == "1"] == [(cplfw_name(a), cplfw_name(b)) for a, b in fx.same]
    i1, i2 = header.index("identity1"), header.index("identity2")
    assert all((r[i1], r[i2]) == (calfw.identity(r[1], kind="CPLFW"), calfw.identity(r[2], kind="CPLFW"))
               for r in rows)
    per_fold = Counter((int(r[0]), r[3]) for r in rows)
    assert all(per_fold[(f, "1")] == per_fold[(f, "0")] == 2 for f in range(10))

    provided = formats.get("cplfw").read_landmarks(m["files"]["landmarks-provided"]["path"], images)
    table, counts = landmarks.from_provided(provided, FRAME, m["images_root"], images)
    assert counts == {"ok": len(images) - 1, "missing": 1, "unreadable": 0}
    assert table[cplfw_name(fx.no_landmarks)].flag == "missing"
    store = align.build_store(m["images_root"], images, tmp_path / "store", tpl=align.template("arcface112"),
                              method="landmarks", landmarks=table, frame=FRAME)
    assert store["status_counts"] == {"aligned": len(images) - 1, "center-fallback": 1}

    ident = protocols.write_identification(images, {"min_images": 2}, tmp_path / "id.tsv", fmt="cplfw",
                                           dataset="cplfw")
    assert ident["identities"] == len(fx.two_image_identities)


def test_a_cplfw_dataset_is_valid_config(tree, monkeypatch):
    base, _ = tree
    monkeypatch.chdir(ROOT)
    cfg = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    cfg["datasets"]["cplfw"] = {**spec(base), "identification": {}, "split": {"fractions": {"train": 0.5,
                                                                                           "test": 0.5}}}
    cfg["evaluate"].append({"model": "pretrained", "dataset": "cplfw", "alignments": ["provided"]})
    validate_config(cfg, ROOT / "workflow/schemas/config.schema.yaml")
