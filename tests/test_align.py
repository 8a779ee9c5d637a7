"""Alignment: the similarity transform, the warp, the templates, the centre crop and the face store."""
from __future__ import annotations

import numpy as np
import pytest
from facebench import align, store, templates
from facebench.landmarks import Landmarks
from PIL import Image


def similarity(scale, angle_deg, tx, ty):
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


def apply(m, pts):
    return pts @ m[:, :2].T + m[:, 2]


@pytest.mark.parametrize("name", sorted(templates.TEMPLATES))
@pytest.mark.parametrize("scale,angle,tx,ty", [(1.0, 0, 0, 0), (2.3, 17, 40, -12), (0.6, -35, 101.5, 77.25)])
def test_points_moved_by_a_known_similarity_come_back_to_the_template(name, scale, angle, tx, ty):
    tpl = align.template(name)
    src = apply(similarity(scale, angle, tx, ty), tpl.points)  # the template's points placed in a "photo"
    m = align.similarity_matrix(src, tpl.points)
    assert np.abs(apply(m, src) - tpl.points).max() < 0.01
    np.testing.assert_allclose(m, np.linalg.inv(np.vstack([similarity(scale, angle, tx, ty), [0, 0, 1]]))[:2],
                               atol=1e-9)


def test_warp_brings_a_drawn_face_back_onto_the_template():
    # five smooth blobs at the template points, moved by a similarity into a "photo"; aligning the photo back puts
    # each blob's centroid on its template point (the transform itself is checked to 0.01 px above)
    tpl = align.template("arcface112")
    m = similarity(1.7, 12, 30, 25)
    yy, xx = np.mgrid[0:300, 0:300].astype(np.float32)
    src_pts = apply(m, tpl.points)
    canvas = np.zeros((300, 300), np.float32)
    for x, y in src_pts:
        canvas += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.5 ** 2))
    face = align.align(np.dstack([canvas] * 3), src_pts, tpl)
    assert face.shape == (112, 112, 3)
    gy, gx = np.mgrid[0:112, 0:112]
    for x, y in tpl.points:
        w = face[..., 0] * (((gx - x) ** 2 + (gy - y) ** 2) <= 49)
        cx, cy = (w * gx).sum() / w.sum(), (w * gy).sum() / w.sum()
        assert abs(cx - x) < 0.03 and abs(cy - y) < 0.03


def test_templates_are_the_fields_two():
    sf, af = align.template("sphereface96x112"), align.template("arcface112")
    assert sf.size == (96, 112) and af.size == (112, 112)
    np.testing.assert_allclose(sf.points[0], [30.2946, 51.6963])
    np.testing.assert_allclose(af.points - sf.points, np.tile([8.0, 0.0], (5, 1)))
    with pytest.raises(KeyError, match="unknown alignment template"):
        align.template("nope")


def test_center_crop_is_the_middle_of_the_frame_at_frame_scale():
    frame = np.arange(250 * 250 * 3, dtype=np.uint32).reshape(250, 250, 3).astype(np.uint8)
    crop = align.center_crop(frame, (250, 250), (96, 112))
    np.testing.assert_array_equal(crop, frame[69:181, 77:173])
    # a 150 px copy of the frame is resized back to 250 first: the crop covers the same part of the face
    small = np.zeros((150, 150, 3), np.uint8)
    small[60:90, 60:90] = 255  # the central 30 px = the central 50 px of the 250 frame
    crop = align.center_crop(small, (250, 250), (112, 112))
    assert crop.shape == (112, 112, 3)
    on = np.argwhere(crop[..., 0] > 127)
    assert 27 <= on[:, 0].min() <= 32 and 79 <= on[:, 0].max() <= 84  # the 50 px square centred in 112


def write_jpeg(path, size=(150, 150), mode="RGB", color=(120, 80, 40)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color if mode == "RGB" else color[0]).save(path, quality=95)


def test_store_records_status_and_fallback(tmp_path):
    root = tmp_path / "images"
    for name in ("A/A_0001.jpg", "A/A_0002.jpg", "B/B_0001.jpg"):
        write_jpeg(root / name)
    tpl = align.template("arcface112")
    pts = tpl.points * 1.0 + 20
    lms = {"A/A_0001.jpg": Landmarks(pts), "A/A_0002.jpg": Landmarks(np.full((5, 2), np.nan), "no-face")}
    summary = align.build_store(root, ["A/A_0001.jpg", "A/A_0002.jpg", "B/B_0001.jpg"], tmp_path / "store",
                                tpl=tpl, method="landmarks", landmarks=lms, frame=(150, 150))
    assert summary["status_counts"] == {"aligned": 1, "center-fallback": 2}
    idx = store.read_index(tmp_path / "store")
    assert idx.status == ["aligned", "center-fallback", "center-fallback"]
    assert "landmarks no-face" in idx.notes[1] and "no landmarks" in idx.notes[2]
    faces = store.open_faces(tmp_path / "store")
    assert faces.shape == (3, 112, 112, 3) and faces.dtype == np.uint8


def test_store_refuses_unreadable_images_unless_told_to_skip(tmp_path):
    root = tmp_path / "images"
    write_jpeg(root / "A/A_0001.jpg")
    (root / "B").mkdir()
    (root / "B/B_0001.jpg").write_bytes(b"not a jpeg")
    tpl = align.template("arcface112")
    with pytest.raises(Exception, match=r"(?s)1 image\(s\) cannot be read.*B_0001.jpg: not an image"):
        align.build_store(root, ["A/A_0001.jpg", "B/B_0001.jpg"], tmp_path / "s1", tpl=tpl, method="center")
    assert not (tmp_path / "s1" / "faces.npy").exists()  # nothing half-written is left to be taken as complete
    summary = align.build_store(root, ["A/A_0001.jpg", "B/B_0001.jpg"], tmp_path / "s2", tpl=tpl, method="center",
                                on_error="skip")
    assert summary["status_counts"] == {"center": 1, "failed": 1}
