"""Alignment method ``box``: the detector's box with a margin, cut and resized with no warp (facenet-pytorch's crops).

The crop geometry, the landmark file's optional box columns, MTCNN's landmarking writing them, the store and its
fallback, the align command, the rule's wiring, and every config error of box alignments and template ``box``.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import yaml
from facebench import align, landmarks, store, templates
from facebench.config import ConfigError, validate_config
from facebench.landmarks import Landmarks

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")
NAN5 = np.full((5, 2), np.nan)
POINTS = np.array([[90.0, 100], [150, 100], [120, 130], [95, 160], [145, 160]])


def coordinate_image(w: int = 250, h: int = 250) -> np.ndarray:
    """RGB image whose red channel is x and green channel is y (both < 256): a crop says where it was cut."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([xx, yy, np.full_like(xx, 7)]).astype(np.uint8)


# ---------------------------------------------------------------- the crop
def test_margin_zero_cuts_the_box_itself():
    img = coordinate_image()
    face = align.box_crop(img, [40, 50, 200, 210], margin=0, size=160)
    assert face.shape == (160, 160, 3) and face.dtype == np.uint8
    np.testing.assert_array_equal(face, img[50:210, 40:200])  # 160 px box at 160 px: no resampling


def test_margin_is_in_pixels_of_the_crop():
    # a 146 px box with margin 14 at size 160: the window grows by 14 * 146 / 146 = 14 px (7 a side) and is 160 px
    img = coordinate_image()
    face = align.box_crop(img, [40, 50, 186, 196], margin=14, size=160)
    np.testing.assert_array_equal(face, img[43:203, 33:193])
    # so the box itself lands 7 px inside every edge of the crop, whatever the box's size in the image
    canvas = np.zeros((400, 400, 3), np.uint8)
    canvas[60:352, 50:342] = 255  # a 292 px box: the window grows by 14 * 292 / 146 = 28 px, then halves in the resize
    face = align.box_crop(canvas, [50, 60, 342, 352], margin=14, size=160)
    on = np.argwhere(face[..., 0] > 127)
    assert on[:, 0].min() == 7 and on[:, 0].max() == 152 and on[:, 1].min() == 7 and on[:, 1].max() == 152


def test_fractional_boxes_are_truncated_as_facenet_pytorch_does():
    img = coordinate_image()
    # mx = 14 * 100.6 / 146 = 9.647: x from int(30.4 - 4.82) = 25 to int(131.0 + 4.82) = 135; my = 9.627: y from
    # int(40.9 - 4.81) = 36 to int(141.3 + 4.81) = 146
    face = align.box_crop(img, [30.4, 40.9, 131.0, 141.3], margin=14, size=160)
    np.testing.assert_array_equal(face, cv2.resize(img[36:146, 25:135], (160, 160), interpolation=cv2.INTER_AREA))


def test_the_window_is_clipped_to_the_image_and_not_made_square():
    img = coordinate_image(200, 150)
    # top-left: mx = 14 * 110 / 146 = 10.5, my = 14 * 120 / 146 = 11.5; clipped to 0, right 105, bottom 130
    face = align.box_crop(img, [-10, 5, 100, 125], margin=14, size=160)
    np.testing.assert_array_equal(face, cv2.resize(img[0:130, 0:105], (160, 160), interpolation=cv2.INTER_AREA))
    # bottom-right: clipped to the image's width and height
    face = align.box_crop(img, [150, 100, 230, 180], margin=0, size=40)
    np.testing.assert_array_equal(face, cv2.resize(img[100:150, 150:200], (40, 40), interpolation=cv2.INTER_AREA))
    # a wide box stays wide in the image: stretched to the square crop, not padded to a square first
    face = align.box_crop(img, [20, 40, 180, 80], margin=0, size=32)
    assert face[:, 0, 0].max() < 30 and face[:, -1, 0].min() > 170  # x runs across the whole box
    assert face[0, :, 1].max() < 42 and face[-1, :, 1].min() > 77  # y only across its 40 rows


def test_bad_crops_are_refused():
    img = coordinate_image()
    with pytest.raises(ValueError, match="margin 160 must be at least 0 and less than the crop size 160"):
        align.box_crop(img, [0, 0, 10, 10], margin=160, size=160)
    with pytest.raises(ValueError, match="leaves nothing"):
        align.box_crop(img, [300, 300, 400, 400], margin=0, size=32)


# ---------------------------------------------------------------- the landmark file
def test_round_trip_with_and_without_boxes(tmp_path):
    rows = {"A/A_0001.jpg": Landmarks(POINTS, "ok", np.array([60.5, 70.25, 180.0, 200.125])),
            "A/A_0002.jpg": Landmarks(NAN5.copy(), "no-face", np.full(4, np.nan)),
            "B/B_0001.jpg": Landmarks(POINTS + 1)}
    f = tmp_path / "l.tsv"
    landmarks.write(f, rows)
    assert [len(line.split("\t")) for line in f.read_text().splitlines()] == [16, 16, 12]
    back = landmarks.read(f)
    np.testing.assert_allclose(back["A/A_0001.jpg"].box, [60.5, 70.25, 180.0, 200.125])
    np.testing.assert_allclose(back["A/A_0001.jpg"].points, POINTS)
    assert back["A/A_0002.jpg"].flag == "no-face" and np.isnan(back["A/A_0002.jpg"].box).all()
    assert back["B/B_0001.jpg"].box is None and back["B/B_0001.jpg"].flag == "ok"


def test_old_lines_still_parse(tmp_path):
    f = tmp_path / "old.tsv"
    f.write_text("A/A_0001.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\n"  # the provided LFW file: no flag
                 "A/A_0002.jpg 1 2 3 4 5 6 7 8 9 10 ok\n"
                 "A/A_0003.jpg\tnan\tnan\tnan\tnan\tnan\tnan\tnan\tnan\tnan\tnan\tno-face\n")
    table = landmarks.read(f)
    assert [lm.box for lm in table.values()] == [None, None, None]
    assert [lm.flag for lm in table.values()] == ["ok", "ok", "no-face"]


OK_LINE = "A/A_0001.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\tok"


@pytest.mark.parametrize("line,match", [
    (OK_LINE + "\t1\t2\t3", r"line 2: expected 11 fields .*16 \(with a flag and a box\), found 15"),
    (OK_LINE + "\t1\t2\tx\t4", r"line 2: a box coordinate is not a number"),
    (OK_LINE + "\t1\t2\tnan\t40", r"line 2: flag 'ok' with a non-finite box"),
    (OK_LINE + "\t50\t2\t30\t40", r"line 2: box .* is not x1 y1 x2 y2 with x2 > x1 and y2 > y1"),
])
def test_bad_boxes_name_the_file_and_line(tmp_path, line, match):
    f = tmp_path / "l.tsv"
    f.write_text("Z/Z_0001.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\tok\t0\t0\t9\t9\n" + line + "\n")
    with pytest.raises(ValueError, match=f"{f}: " + match):
        landmarks.read(f)


def test_provided_points_carry_no_box(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((150, 150, 3), np.uint8))
    table, _ = landmarks.from_provided({"a.png": Landmarks(POINTS)}, (250, 250), tmp_path, ["a.png"])
    assert table["a.png"].box is None


def test_mtcnn_landmarking_records_the_chosen_box(tmp_path):
    from facebench.detect.landmarking import landmark_images
    from facebench.detect.mtcnn import Faces, Settings

    for name in ("one.png", "none.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((64, 64, 3), np.uint8))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    found = Faces(np.array([[10, 12, 40, 44], [2, 2, 10, 10]], np.float32), np.array([0.99, 0.9], np.float32),
                  np.tile(POINTS[None] / 4, (2, 1, 1)).astype(np.float32))

    class Detector:  # the detector's interface, with its answers made up: one image has two faces, one none
        settings = Settings(select="largest")
        device = SimpleNamespace(type="cpu")

        def detect(self, batch):
            return [found if i == 0 else Faces() for i in range(len(batch))]

    table, summary = landmark_images(tmp_path, ["one.png", "none.png", "bad.png"], Detector(), batch_size=8)
    np.testing.assert_array_equal(table["one.png"].box, [10, 12, 40, 44])  # the largest face's box
    assert table["none.png"].flag == "no-face" and np.isnan(table["none.png"].box).all()
    assert table["bad.png"].flag == "unreadable" and np.isnan(table["bad.png"].box).all()
    landmarks.write(tmp_path / "mtcnn.tsv", table)
    np.testing.assert_array_equal(landmarks.read(tmp_path / "mtcnn.tsv")["one.png"].box, [10, 12, 40, 44])


# ---------------------------------------------------------------- the store
def write_images(root: Path, names: list[str]) -> np.ndarray:
    img = coordinate_image()
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / name), img[..., ::-1])  # PNG: lossless, so the faces can be compared exactly
    return img


def test_store_of_box_crops_with_fallbacks(tmp_path):
    root = tmp_path / "images"
    names = ["A/A_0001.png", "A/A_0002.png", "B/B_0001.png", "C/C_0001.png", "D/D_0001.png"]
    img = write_images(root, names)
    box = np.array([40.0, 50, 186, 196])
    table = {"A/A_0001.png": Landmarks(POINTS, "ok", box),
             "A/A_0002.png": Landmarks(NAN5.copy(), "no-face", np.full(4, np.nan)),
             "B/B_0001.png": Landmarks(POINTS),  # ok points but no box (a line without box columns)
             "D/D_0001.png": Landmarks(POINTS, "ok", box + 10)}
    summary = align.build_store(root, names, tmp_path / "store", method="box", landmarks=table, margin=14, size=160,
                                frame=(250, 250))
    assert summary["status_counts"] == {"aligned": 2, "center-fallback": 3}
    assert (summary["method"], summary["template"], summary["margin"], summary["size"]) == ("box", "box", 14,
                                                                                           [160, 160])
    idx = store.read_index(tmp_path / "store")
    assert idx.status == ["aligned", "center-fallback", "center-fallback", "center-fallback", "aligned"]
    assert "landmarks no-face" in idx.notes[1] and "no box" in idx.notes[2] and "no landmarks" in idx.notes[3]
    faces = store.open_faces(tmp_path / "store")
    assert faces.shape == (5, 160, 160, 3) and faces.dtype == np.uint8
    np.testing.assert_array_equal(faces[0], img[43:203, 33:193])
    np.testing.assert_array_equal(faces[4], img[53:213, 43:203])
    np.testing.assert_array_equal(faces[1], img[45:205, 45:205])  # the frame's central 160 px


def test_store_refusals(tmp_path):
    root = tmp_path / "images"
    write_images(root, ["a.png"])
    with_box = {"a.png": Landmarks(POINTS, "ok", np.array([40.0, 50, 186, 196]))}
    build = lambda **kw: align.build_store(root, ["a.png"], tmp_path / "s", **kw)  # noqa: E731
    with pytest.raises(ValueError, match="'box' needs a margin and a size"):
        build(method="box", landmarks=with_box, size=160)
    with pytest.raises(ValueError, match="needs a landmark table"):
        build(method="box", margin=0, size=160)
    with pytest.raises(ValueError, match="a 300x300 box crop does not fit in a 250x250 frame"):
        build(method="box", landmarks=with_box, margin=0, size=300)
    with pytest.raises(ValueError, match="needs the detector's boxes, and no record of the landmark table has one"):
        build(method="box", landmarks={"a.png": Landmarks(POINTS)}, margin=0, size=160)
    with pytest.raises(ValueError, match="'landmarks' needs a template"):
        build(method="landmarks", landmarks=with_box)


def test_align_command_cuts_boxes(tmp_path):
    from facebench.cli import main

    root = tmp_path / "images"
    img = write_images(root, ["a.png", "b.png"])
    (tmp_path / "manifest.json").write_text(json.dumps({"images_root": str(root)}))
    (tmp_path / "images.txt").write_text("a.png\nb.png\n")
    landmarks.write(tmp_path / "mtcnn.tsv", {"a.png": Landmarks(POINTS, "ok", np.array([40.0, 50, 186, 196])),
                                             "b.png": Landmarks(NAN5.copy(), "no-face", np.full(4, np.nan))})
    common = ["align", "--manifest", str(tmp_path / "manifest.json"), "--images", str(tmp_path / "images.txt"),
              "--landmarks", str(tmp_path / "mtcnn.tsv"), "--frame", "250", "250"]
    assert main([*common, "--method", "box", "--template", "box", "--margin", "14", "--size", "160",
                 "--out", str(tmp_path / "store")]) == 0
    np.testing.assert_array_equal(store.open_faces(tmp_path / "store")[0], img[43:203, 33:193])
    assert json.loads((tmp_path / "store/summary.json").read_text())["status_counts"] == {"aligned": 1,
                                                                                         "center-fallback": 1}
    assert main([*common, "--method", "box", "--template", "box", "--out", str(tmp_path / "s2")]) == 2
    assert main([*common, "--method", "box", "--template", "arcface112", "--margin", "0", "--size", "112",
                 "--out", str(tmp_path / "s3")]) == 2
    assert main([*common, "--method", "landmarks", "--template", "arcface112", "--margin", "0",
                 "--out", str(tmp_path / "s4")]) == 2


# ---------------------------------------------------------------- templates
def test_box_is_a_template_name_without_points():
    from facebench import names

    assert "box" in names.TEMPLATE_NAMES and "box" not in templates.TEMPLATES
    assert "box" in names.ALIGNMENT_METHODS
    assert templates.input_size({"template": "box", "size": [160, 160]}) == [160, 160]
    assert templates.input_size({"template": "arcface112"}) == [112, 112]
    with pytest.raises(ValueError, match=r"template 'box' needs input.size"):
        templates.input_size({"template": "box"})
    with pytest.raises(KeyError, match="not a warp template"):
        align.template("box")
    args = templates.backbone_args({"backbone": "inception_resnet_v1", "input": {"template": "box", "size": [160,
                                                                                                              160]}},
                                   "models.m")
    assert args["input_size"] == [160, 160]


# ---------------------------------------------------------------- config
FACENET = {"backbone": "inception_resnet_v1", "input": {"template": "box", "size": [160, 160]},
           "weights": {"url": "https://example.org/20180402-114759-vggface2.pt"}}
BOX160 = {"method": "box", "landmarks": "mtcnn", "margin": 14, "size": 160}


@pytest.fixture()
def boxed():
    """The smoke profile with a facenet model evaluated on a box alignment and on a degraded copy of it."""
    cfg = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    cfg["alignments"]["mtcnn-box160"] = dict(BOX160)
    cfg["alignments"]["box-lr16"] = {"method": "degrade", "source": "mtcnn-box160", "size": 16}
    cfg["models"]["facenet-vggface2"] = copy.deepcopy(FACENET)
    cfg["evaluate"].append({"model": "facenet-vggface2", "dataset": "lfw", "alignments": ["mtcnn-box160",
                                                                                         "box-lr16"]})
    return cfg


def test_a_box_alignment_and_a_box_model_are_accepted(boxed):
    cfg = validate_config(boxed, SCHEMA)
    assert cfg["alignments"]["mtcnn-box160"] == BOX160


def box_trained(c, alignment):
    c["models"]["box-trained"] = copy.deepcopy(c["models"]["softmax"])
    c["models"]["box-trained"]["train"]["alignment"] = alignment
    return c


def test_a_box_model_may_train_on_a_box_alignment(boxed):
    cfg = box_trained(boxed, "mtcnn-box160")
    cfg["models"]["box-trained"]["input"] = {"template": "box", "size": [32, 32]}
    validate_config(cfg, SCHEMA)


def evaluated(c, model, alignment):
    c["evaluate"].append({"model": model, "dataset": "lfw", "alignments": [alignment]})
    return c


@pytest.mark.parametrize("edit,match", [
    (lambda c: c["alignments"]["mtcnn-box160"].update(landmarks="provided"),
     r"config key alignments.mtcnn-box160.landmarks: method 'box' cuts the detector's boxes, so it needs landmarks: "
     r"mtcnn; 'provided' has no boxes"),
    (lambda c: c["alignments"]["mtcnn-box160"].pop("landmarks"),
     r"config key alignments.mtcnn-box160.landmarks: method 'box' .* needs landmarks: mtcnn; missing"),
    (lambda c: c["alignments"]["mtcnn-box160"].pop("margin"),
     r"config key alignments.mtcnn-box160.margin: method 'box' needs a margin"),
    (lambda c: c["alignments"]["mtcnn-box160"].update(margin=-1),
     r"config key alignments.mtcnn-box160.margin: -1 is less than the minimum of 0"),
    (lambda c: c["alignments"]["mtcnn-box160"].update(margin=1.5),
     r"config key alignments.mtcnn-box160.margin: 1.5 is not of type 'integer'"),
    (lambda c: c["alignments"]["mtcnn-box160"].update(margin=160),
     r"config key alignments.mtcnn-box160.margin: 160 must be less than size 160"),
    (lambda c: c["alignments"]["mtcnn-box160"].pop("size"),
     r"config key alignments.mtcnn-box160.size: method 'box' needs a size"),
    (lambda c: c["alignments"]["mtcnn-box160"].update(size=12, margin=0),
     r"config key alignments.mtcnn-box160.size: 12 is below 16 px"),
    (lambda c: c["alignments"]["provided"].update(margin=14),
     r"config key alignments.provided.margin: an option of method 'box', not 'landmarks'"),
    (lambda c: c["models"]["facenet-vggface2"]["input"].pop("size"),
     r"config key models.facenet-vggface2.input.size: template 'box' needs input.size"),
    (lambda c: c["models"]["facenet-vggface2"]["input"].update(template="box160"),
     r"config key models.facenet-vggface2.input.template: 'box160' is not one of"),
    (lambda c: evaluated(c, "facenet-vggface2", "provided"),
     r"config key evaluate.14.alignments: 'provided' is cut by method 'landmarks', but "
     r"models.facenet-vggface2.input.template is 'box', which takes the faces of box alignments only"),
    (lambda c: evaluated(c, "facenet-vggface2", "center"),
     r"config key evaluate.14.alignments: 'center' is cut by method 'center', but models.facenet-vggface2"),
    (lambda c: evaluated(c, "pretrained", "mtcnn-box160"),
     r"config key evaluate.14.alignments: 'mtcnn-box160' is a box alignment \(the detector's box, no warp\), but "
     r"models.pretrained.input.template is 'arcface112'; box alignments serve models of template 'box'"),
    (lambda c: evaluated(c, "pretrained", "box-lr16"),  # a degraded box store is still a box store
     r"config key evaluate.14.alignments: 'box-lr16' is a box alignment .* models.pretrained.input.template"),
    (lambda c: c.pop("detect"),
     r"config key evaluate.13.alignments: 'mtcnn-box160' uses MTCNN landmarks, but config key detect.mtcnn"),
    (lambda c: box_trained(c, "mtcnn-box160"),
     r"config key models.box-trained.train.alignment: 'mtcnn-box160' is a box alignment .* "
     r"models.box-trained.input.template is 'arcface112'"),
    (lambda c: box_trained(c, "provided")["models"]["box-trained"].update(input={"template": "box", "size": [32,
                                                                                                            32]}),
     r"config key models.box-trained.train.alignment: 'provided' is cut by method 'landmarks', but "
     r"models.box-trained.input.template is 'box'"),
    (lambda c: c["models"]["siamese"]["train"]["validate"].update(alignment="mtcnn-box160"),
     r"config key models.siamese.train.validate.alignment: 'mtcnn-box160' is a box alignment"),
])
def test_bad_box_config_names_the_key(boxed, edit, match):
    assert len(boxed["evaluate"]) == 14  # evaluate.13 is the facenet entry, an added one evaluate.14
    cfg = copy.deepcopy(boxed)
    edit(cfg)
    with pytest.raises(ConfigError, match=match):
        validate_config(cfg, SCHEMA)


def test_the_align_rule_passes_margin_and_size_for_box_alignments_only(tmp_path):
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["alignments"]["mtcnn-box160"] = dict(BOX160)
    cfg["models"]["facenet-vggface2"] = copy.deepcopy(FACENET)
    cfg["evaluate"].append({"model": "facenet-vggface2", "dataset": "lfw", "alignments": ["mtcnn-box160"]})
    (tmp_path / "box.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--snakefile", str(ROOT / "Snakefile"),
           "--directory", str(tmp_path), "--configfile", str(tmp_path / "box.yaml"), "--printshellcmds"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    aligns = [line for line in out.stdout.splitlines() if "facebench align " in line]
    box = [line for line in aligns if "--method box" in line]
    assert len(box) == 1, aligns
    assert "--landmarks results/landmarks/lfw/mtcnn.tsv --margin 14 --size 160 --template box" in box[0]
    assert "results/aligned/lfw/mtcnn-box160/box" in box[0]
    assert all("--margin" not in line for line in aligns if line not in box)
