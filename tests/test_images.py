"""Image decoding: every mode becomes RGB with a note; bad files raise errors that name them."""
from __future__ import annotations

import io

import numpy as np
import pytest
from facebench.images import ImageError, image_size, load_rgb
from PIL import Image


@pytest.mark.parametrize("mode,fmt", [("L", "JPEG"), ("CMYK", "JPEG"), ("RGBA", "PNG"), ("P", "PNG"),
                                      ("I;16", "PNG")])
def test_modes_are_converted_and_recorded(tmp_path, mode, fmt):
    path = tmp_path / f"x.{fmt.lower()}"
    Image.new(mode, (20, 10)).save(path, format=fmt)
    arr, note = load_rgb(path)
    assert arr.shape == (10, 20, 3) and arr.dtype == np.uint8
    assert note.startswith("converted from")


def test_rgb_has_no_note(tmp_path):
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "x.png")
    arr, note = load_rgb(tmp_path / "x.png")
    assert note == "" and tuple(arr[0, 0]) == (1, 2, 3)


def test_truncated_jpeg_is_an_error_naming_the_file(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (150, 150, 3), dtype=np.uint8)).save(buf, "JPEG")
    path = tmp_path / "Cut_0001.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match=r"Cut_0001.jpg: cannot decode"):
        load_rgb(path)


def test_missing_and_non_image_files(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        load_rgb(tmp_path / "none.jpg")
    (tmp_path / "text.jpg").write_text("hello")
    with pytest.raises(ImageError, match="text.jpg: not an image"):
        load_rgb(tmp_path / "text.jpg")
    with pytest.raises(ImageError, match="text.jpg: not an image"):
        image_size(tmp_path / "text.jpg")
