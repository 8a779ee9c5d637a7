"""Landmark files: the provided format, flags, errors naming the line, and rescaling to each image's frame."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import LFW, needs_shared
from facebench import landmarks
from PIL import Image


def test_round_trip_with_flags(tmp_path):
    rows = {"A/A_0001.jpg": landmarks.Landmarks(np.arange(10.0).reshape(5, 2)),
            "B/B_0001.jpg": landmarks.Landmarks(np.full((5, 2), np.nan), "no-face")}
    landmarks.write(tmp_path / "l.tsv", rows)
    back = landmarks.read(tmp_path / "l.tsv")
    np.testing.assert_allclose(back["A/A_0001.jpg"].points, rows["A/A_0001.jpg"].points)
    assert back["A/A_0001.jpg"].flag == "ok" and back["B/B_0001.jpg"].flag == "no-face"


@pytest.mark.parametrize("line,match", [
    ("A/A_0001.jpg\t1\t2\t3", r"line 2: expected 11 fields .* found 4"),
    ("A/A_0001.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\tx", r"line 2: a coordinate is not a number"),
    ("A/A_0001.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\tnan\tok", r"line 2: flag 'ok' with non-finite"),
])
def test_bad_lines_name_the_line(tmp_path, line, match):
    f = tmp_path / "l.tsv"
    f.write_text("Z/Z_0001.jpg\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\n" + line + "\n")
    with pytest.raises(ValueError, match=match):
        landmarks.read(f)


def test_provided_points_are_scaled_to_the_image_on_disk(tmp_path):
    (tmp_path / "img" / "A").mkdir(parents=True)
    Image.new("RGB", (150, 150)).save(tmp_path / "img/A/A_0001.jpg")
    Image.new("RGB", (250, 250)).save(tmp_path / "img/A/A_0002.jpg")
    f = tmp_path / "provided.txt"
    f.write_text("A/A_0001.jpg\t100\t100\t150\t100\t125\t130\t105\t160\t145\t160\n"
                 "A/A_0002.jpg\t100\t100\t150\t100\t125\t130\t105\t160\t145\t160\n")
    table, counts = landmarks.from_provided(landmarks.read(f), (250, 250), tmp_path / "img",
                                            ["A/A_0001.jpg", "A/A_0002.jpg", "A/A_0003.jpg"])
    np.testing.assert_allclose(table["A/A_0001.jpg"].points[0], [59.8, 59.8])  # (100 + 0.5) * 0.6 - 0.5
    np.testing.assert_allclose(table["A/A_0002.jpg"].points[0], [100, 100])
    assert table["A/A_0003.jpg"].flag == "missing"
    assert counts == {"ok": 2, "missing": 1, "unreadable": 0}


@needs_shared
def test_the_real_provided_file_covers_every_lfw_image():
    from facebench.data.lfw import list_images

    table = landmarks.read(LFW / "lfw_landmark_250px.txt")
    assert len(table) == 13233  # every LFW image, Betsy_Coffin_0001 (missing upstream) included
    assert set(list_images(LFW / "images")) <= set(table)
    eyes = np.array([lm.points[:2] for lm in table.values()])
    assert 30 < np.median(np.linalg.norm(eyes[:, 1] - eyes[:, 0], axis=1)) < 50  # ~40 px between eyes at 250 px
