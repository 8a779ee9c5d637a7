"""Reading face images as RGB uint8 arrays, with errors that name the file and a note for every mode conversion."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class ImageError(ValueError):
    """An image that cannot be used; the message names the file and the reason."""


def load_rgb(path: str | Path) -> tuple[np.ndarray, str]:
    """Decode ``path`` to an HxWx3 RGB uint8 array; returns (array, note) where note says what was converted.

    Grayscale, palette, CMYK, 16-bit and alpha images are converted to RGB (alpha dropped) and the note records the
    original mode; a missing, truncated or non-image file raises ImageError naming the file.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()  # decode now: a truncated JPEG fails here, not later
                mode = im.mode
                rgb = im if mode == "RGB" else im.convert("RGB")
                arr = np.asarray(rgb, dtype=np.uint8)
    except FileNotFoundError as err:
        raise ImageError(f"{path}: file not found") from err
    except UnidentifiedImageError as err:
        raise ImageError(f"{path}: not an image PIL can read") from err
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise ImageError(f"{path}: cannot decode ({err})") from err
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise ImageError(f"{path}: decoded to an unusable shape {arr.shape}")
    return arr, ("" if mode == "RGB" else f"converted from {mode}")


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the header alone."""
    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError as err:
        raise ImageError(f"{path}: file not found") from err
    except (OSError, UnidentifiedImageError) as err:
        raise ImageError(f"{path}: not an image PIL can read ({err})") from err
