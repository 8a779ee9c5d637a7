"""MTCNN on real LFW images (../shared/data): faces found where the provided landmarks are, and bad input
recorded per image."""
import json

import numpy as np
import pytest
from conftest import LFW, SHARED, needs_shared
from facebench import landmarks
from facebench.cli import main
from facebench.detect.agreement import agreement
from facebench.detect.landmarking import landmark_images
from facebench.detect.mtcnn import MTCNN, Settings
from facebench.landmarks import OK
from PIL import Image

LANDMARKS = LFW / "lfw_landmark_250px.txt"

WEIGHTS = SHARED / "weights" / "mtcnn"
pytestmark = needs_shared


@pytest.fixture(scope="module")
def detector():
    return MTCNN({n: WEIGHTS / f"{n}.pt" for n in ("pnet", "rnet", "onet")}, Settings())


@pytest.fixture(scope="module")
def names():
    people = sorted(p for p in (LFW / "images").iterdir() if p.is_dir())[:400:10]
    return [f"{p.name}/{sorted(p.iterdir())[0].name}" for p in people]


def test_landmarks_agree_with_provided(detector, names):
    table, summary = landmark_images(LFW / "images", names, detector, batch_size=16)
    assert list(table) == names
    assert summary["counts"]["ok"] >= len(names) - 1
    provided, _ = landmarks.from_provided(landmarks.read(LANDMARKS), (250, 250), LFW / "images", names)
    result = agreement(table, provided, LFW / "images", (250, 250))
    # a reference implementation with these weights sits at about 3 px mean; a wrong layer layout or pixel
    # convention shows up as tens of px
    assert result["distance"]["mean"] < 5.0
    assert result["distance"]["median"] < 4.0
    for name in names:
        lm = table[name]
        if lm.flag == OK:  # the eyes are above the mouth, left eye left of right eye (image coordinates)
            assert lm.points[0, 0] < lm.points[1, 0]
            assert lm.points[:2, 1].mean() < lm.points[3:, 1].mean()


def test_batch_results_do_not_depend_on_batch_size(detector, names):
    a, _ = landmark_images(LFW / "images", names[:12], detector, batch_size=12)
    b, _ = landmark_images(LFW / "images", names[:12], detector, batch_size=5)
    for n in names[:12]:
        assert a[n].flag == b[n].flag
        np.testing.assert_allclose(a[n].points, b[n].points, atol=1e-3)


def test_bad_input_is_recorded_per_image(detector, names, tmp_path):
    src = LFW / "images" / names[0]
    (tmp_path / "ok").mkdir()
    img = Image.open(src)
    img.save(tmp_path / "ok" / "face.jpg")
    img.save(tmp_path / "ok" / "face.png")  # lossless: the RGBA copy must give exactly its points
    img.convert("L").save(tmp_path / "ok" / "gray.png")
    img.convert("RGBA").save(tmp_path / "ok" / "rgba.png")
    img.resize((15, 15)).save(tmp_path / "ok" / "tiny.png")
    Image.new("RGB", (150, 150), (128, 128, 128)).save(tmp_path / "ok" / "blank.png")
    (tmp_path / "ok" / "notes.jpg").write_text("not an image")
    (tmp_path / "ok" / "cut.jpg").write_bytes(src.read_bytes()[:2000])
    files = ["face.jpg", "face.png", "gray.png", "rgba.png", "tiny.png", "blank.png", "notes.jpg", "cut.jpg",
             "gone.jpg"]
    table, summary = landmark_images(tmp_path / "ok", [f"{n}" for n in files], detector, batch_size=4)
    flags = {n: table[n].flag for n in files}
    assert flags == {"face.jpg": "ok", "face.png": "ok", "gray.png": "ok", "rgba.png": "ok", "tiny.png": "too-small",
                     "blank.png": "no-face", "notes.jpg": "unreadable", "cut.jpg": "unreadable",
                     "gone.jpg": "unreadable"}
    assert summary["counts"]["converted"] == 2
    assert "not an image" in summary["not_ok"]["notes.jpg"]
    assert "file not found" in summary["not_ok"]["gone.jpg"]
    assert np.isnan(table["blank.png"].points).all()
    # grayscale and RGBA copies of the face give (nearly) the same points as the colour original
    assert np.abs(table["rgba.png"].points - table["face.png"].points).max() < 1e-3
    assert np.abs(table["face.jpg"].points - table["face.png"].points).mean() < 2.0
    assert np.abs(table["gray.png"].points - table["face.png"].points).mean() < 3.0


def test_landmarks_command(tmp_path, names, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(names[:4]) + "\n")
    out, summary = tmp_path / "lm.tsv", tmp_path / "lm.json"
    rc = main(["landmarks", str(LFW / "images"), "--list", str(listing), "-o", str(out), "--summary", str(summary),
               "--weights", str(WEIGHTS), "--threads", "1", "--device", "cpu"])
    assert rc == 0
    rows = out.read_text().splitlines()
    assert [r.split("\t")[0] for r in rows] == names[:4]
    assert all(len(r.split("\t")) == 16 for r in rows)  # points, flag, and the face's box
    table = landmarks.read(out)
    assert table[names[0]].flag == OK
    for name in names[:4]:  # each chosen box holds its five points
        (x1, y1, x2, y2), pts = table[name].box, table[name].points
        assert x1 < pts[:, 0].min() and pts[:, 0].max() < x2 and y1 < pts[:, 1].min() and pts[:, 1].max() < y2
    assert json.loads(summary.read_text())["counts"]["ok"] == 4
    rc = main(["landmarks", str(tmp_path / "nowhere"), "-o", str(out), "--weights", str(WEIGHTS)])
    assert rc == 2
    assert "no such image folder" in capsys.readouterr().err
    rc = main(["landmarks", str(LFW / "images"), "--list", str(listing), "-o", str(out), "--weights", str(tmp_path)])
    assert rc == 2
    assert "pnet.pt" in capsys.readouterr().err


def test_landmark_agreement_command_and_its_errors(tmp_path, names, capsys):
    two = names[:2]
    (tmp_path / "images.txt").write_text("\n".join(two) + "\n")
    (tmp_path / "manifest.json").write_text(json.dumps({"dataset": "lfw", "images_root": str(LFW / "images")}))
    provided, _ = landmarks.from_provided(landmarks.read(LANDMARKS), (250, 250), LFW / "images", two)
    landmarks.write(tmp_path / "provided.tsv", provided)
    landmarks.write(tmp_path / "detected.tsv", {two[0]: provided[two[0]]})  # the second image has no line
    (tmp_path / "summary.json").write_text(json.dumps({"counts": {"ok": 1}, "select": "central", "settings": {},
                                                       "not_ok": {}}))
    args = ["landmark-agreement", "--manifest", str(tmp_path / "manifest.json"), "--images",
            str(tmp_path / "images.txt"), "--detected", str(tmp_path / "detected.tsv"), "--detected-summary",
            str(tmp_path / "summary.json"), "--reference", str(tmp_path / "provided.tsv"), "--figure",
            str(tmp_path / "fig.png"), "--out", str(tmp_path / "out.json")]
    assert main(args) == 2
    assert f"{tmp_path / 'detected.tsv'}: no line for 1 listed images, e.g. {two[1]}" in capsys.readouterr().err
    landmarks.write(tmp_path / "detected.tsv", provided)
    assert main([*args, "--examples", "Nobody/Nobody_0001.jpg"]) == 2
    assert "detect.mtcnn.examples: 'Nobody/Nobody_0001.jpg'" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "fig.png").exists()
    assert main(args) == 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["distance"]["max"] < 0.01 and out["counts"]["compared"] == 2  # a source agrees with itself
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
