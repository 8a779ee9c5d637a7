"""MTCNN face detection and 5-point landmarks, batched over images of the same size.

Our own implementation (the facenet-pytorch package pins torch<2.3, numpy<2 and needs torchvision), following the
published cascade and the box conventions of its reference implementation so that the published weights give the
same landmarks: P-Net over an image pyramid (scale factor 0.709, smallest face ``min_face_size``), NMS per scale
(IoU 0.5) and per image (IoU 0.7), R-Net on 24x24 crops, O-Net on 48x48 crops, NMS 'min' 0.7 last.

Speed comes from doing every step for a whole batch at once: the pyramid is one resize per scale, and the crops
are cut and area-resized for all candidate boxes together from an integral image (no per-box Python loop).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from facebench.detect.nets import load_net
from facebench.detect.nms import nms

SELECT = ("largest", "central")


@dataclass(frozen=True)
class Settings:
    min_face_size: int = 20
    factor: float = 0.709
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    select: str = "central"  # which face when several are found: largest box, or box centre nearest image centre

    def __post_init__(self):
        if self.min_face_size < 12:
            raise ValueError(f"mtcnn min_face_size must be at least 12 (P-Net's window), not {self.min_face_size}")
        if not 0 < self.factor < 1:
            raise ValueError(f"mtcnn factor must be in (0, 1), not {self.factor}")
        if self.select not in SELECT:
            raise ValueError(f"mtcnn select must be one of {SELECT}, not {self.select!r}")


@dataclass
class Faces:
    """Detections in one image: boxes (k, 4) as x1, y1, x2, y2; scores (k,); points (k, 5, 2) as (x, y)."""
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 5, 2), np.float32))

    def pick(self, width: int, height: int, select: str) -> int | None:
        """Index of the face to keep, or None when there is none."""
        if not len(self.boxes):
            return None
        b = self.boxes
        if select == "largest":
            return int(np.argmax((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])))
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        return int(np.argmin((cx - (width - 1) / 2) ** 2 + (cy - (height - 1) / 2) ** 2))


def pyramid_scales(height: int, width: int, min_face_size: int, factor: float) -> list[float]:
    """Scales at which P-Net's 12 px window sees faces from ``min_face_size`` up to the image's shorter side."""
    scale = 12.0 / min_face_size
    side = min(height, width) * scale
    scales = []
    while side >= 12:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def _square(b: torch.Tensor) -> torch.Tensor:
    """Boxes made square about their centres, side = the longer side."""
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    side = torch.maximum(w, h)
    x1, y1 = b[:, 0] + (w - side) / 2, b[:, 1] + (h - side) / 2
    return torch.stack([x1, y1, x1 + side, y1 + side], dim=1)


def _regress(b: torch.Tensor, reg: torch.Tensor, inclusive: bool = True) -> torch.Tensor:
    """Apply box regression offsets, given as fractions of the box's width and height."""
    add = 1.0 if inclusive else 0.0
    w, h = b[:, 2] - b[:, 0] + add, b[:, 3] - b[:, 1] + add
    return b + reg * torch.stack([w, h, w, h], dim=1)


def _crop_windows(b: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Integer pixel windows [x0, x1) x [y0, y1) of boxes, clipped to the image (the reference's 1-based 'pad')."""
    t = b.trunc().long()
    x0, y0 = t[:, 0].clamp(min=1) - 1, t[:, 1].clamp(min=1) - 1
    x1, y1 = t[:, 2].clamp(max=width), t[:, 3].clamp(max=height)
    return torch.stack([x0, y0, x1, y1], dim=1)


def _bins(start: torch.Tensor, stop: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bin edges of adaptive average pooling (= 'area' resize) of [start, stop) into ``size`` cells."""
    length = (stop - start).unsqueeze(1)
    i = torch.arange(size, device=start.device).unsqueeze(0)
    lo = start.unsqueeze(1) + torch.div(i * length, size, rounding_mode="floor")
    hi = start.unsqueeze(1) + torch.div((i + 1) * length + size - 1, size, rounding_mode="floor")
    return lo, hi


def integral_images(x: torch.Tensor) -> torch.Tensor:
    """(N, H+1, W+1, 3) running sums of uint8 images (N, H, W, 3), zero first row and column; int32 where the
    total fits (exact, and half the memory of float64: fresh memory is what costs on small VMs)."""
    n, h, w, c = x.shape
    dtype = torch.int32 if 255 * h * w < 2**31 else torch.int64
    out = torch.zeros((n, h + 1, w + 1, c), dtype=dtype, device=x.device)
    inner = out[:, 1:, 1:]
    inner.copy_(x)
    inner.cumsum_(dim=1)
    inner.cumsum_(dim=2)
    return out


def crop_resize(integral: torch.Tensor, image_idx: torch.Tensor, windows: torch.Tensor, size: int,
                chunk: int = 512) -> torch.Tensor:
    """Area-resize windows of images to size x size, for all windows at once, from the images' integral images.

    ``integral`` comes from integral_images; ``windows`` are (x0, y0, x1, y1) pixel ranges. Equal (to float
    rounding) to cropping each window and calling F.interpolate(mode='area'), which the reference does one box at
    a time. Done ``chunk`` windows at a time so the index arrays stay small and their memory is reused.
    """
    _, rows, cols, channels = integral.shape
    # channels-last, the layout the nets run in (nets.load_net): the crops reach the first convolution uncopied
    out = torch.empty((len(windows), size, size, channels), dtype=torch.float32, device=integral.device)
    flat = integral.view(-1, channels)  # one row index per corner: index_select is 3x faster than (n, y, x) indexing
    for lo in range(0, len(windows), chunk):
        win, n = windows[lo:lo + chunk], image_idx[lo:lo + chunk].view(-1, 1, 1)
        ylo, yhi = _bins(win[:, 1], win[:, 3], size)
        xlo, xhi = _bins(win[:, 0], win[:, 2], size)
        y0, y1 = ylo.unsqueeze(2), yhi.unsqueeze(2)
        x0, x1 = xlo.unsqueeze(1), xhi.unsqueeze(1)
        r0, r1 = (n * rows + y0) * cols, (n * rows + y1) * cols  # the flat row of each edge's column 0
        c11, c01, c10, c00 = (flat.index_select(0, (r + x).flatten())
                              for r, x in ((r1, x1), (r0, x1), (r1, x0), (r0, x0)))
        total = (c11 - c01 - c10 + c00).view(len(win), size, size, channels)
        area = ((y1 - y0) * (x1 - x0)).unsqueeze(3)
        out[lo:lo + chunk] = total.double() / area
    return out.permute(0, 3, 1, 2)


def _nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, threshold: float, **mode) -> torch.Tensor:
    """detect.nms on tensors (it runs in numpy, on the CPU); the kept indices come back on the boxes' device."""
    keep = nms(boxes.cpu().numpy(), scores.cpu().numpy(), groups.cpu().numpy(), threshold, **mode)
    return torch.from_numpy(keep).to(boxes.device)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


class MTCNN:
    # crops per R-Net / O-Net forward: keeps each layer's activations under glibc's mmap threshold (32 MB with
    # runtime.keep_freed_memory), so their memory is reused instead of page-faulted in afresh every batch
    CHUNK = {"rnet": 256, "onet": 64}

    def __init__(self, weights: dict[str, str | Path], settings: Settings = Settings(), device="cpu"):
        self.settings = settings
        self.device = torch.device(device)
        self.pnet, self.rnet, self.onet = (load_net(k, weights[k]).to(self.device) for k in ("pnet", "rnet", "onet"))

    @torch.inference_mode()
    def detect(self, images: np.ndarray) -> list[Faces]:
        """Faces in each of a batch of RGB uint8 images of one size, (N, H, W, 3)."""
        n, height, width = images.shape[:3]
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        imgs = x.permute(0, 3, 1, 2).float()
        boxes, idx = self._proposals(imgs, height, width)
        if len(boxes):
            integral = integral_images(x)
            boxes, idx = self._refine(integral, boxes, idx, height, width)
        points = torch.zeros((0, 5, 2))
        scores = torch.zeros(0)
        if len(boxes):
            boxes, scores, points, idx = self._output(integral, boxes, idx, height, width)
        out = [Faces() for _ in range(n)]
        idx_np = idx.cpu().numpy()
        b, sc, pt = boxes.cpu().numpy(), scores.cpu().numpy(), points.cpu().numpy()
        for i in np.unique(idx_np):
            sel = idx_np == i
            out[i] = Faces(b[sel, :4].astype(np.float32), sc[sel].astype(np.float32), pt[sel].astype(np.float32))
        return out

    def _proposals(self, imgs, height, width):
        """Stage 1: P-Net on the pyramid; candidate boxes (squared) and their image indices."""
        s = self.settings
        all_boxes, all_idx = [], []
        for scale in pyramid_scales(height, width, s.min_face_size, s.factor):
            size = (int(height * scale + 1), int(width * scale + 1))
            reg, prob = self.pnet(_normalise(F.interpolate(imgs, size=size, mode="area")))
            hit = prob[:, 1] >= s.thresholds[0]
            where = hit.nonzero()
            if not len(where):
                continue
            img_i, yy, xx = where[:, 0], where[:, 1], where[:, 2]
            cell = torch.stack([xx, yy, xx, yy], dim=1).to(reg.dtype)
            box = torch.floor((2 * cell + torch.tensor([1.0, 1.0, 12.0, 12.0], device=cell.device)) / scale)
            score = prob[img_i, 1, yy, xx]
            offsets = reg[img_i, :, yy, xx]
            keep = _nms(box, score, img_i, 0.5)
            all_boxes.append(torch.cat([box[keep], score[keep, None], offsets[keep]], dim=1))
            all_idx.append(img_i[keep])
        if not all_boxes:
            return torch.zeros((0, 4), device=imgs.device), torch.zeros(0, dtype=torch.long, device=imgs.device)
        cand, idx = torch.cat(all_boxes), torch.cat(all_idx)
        keep = _nms(cand[:, :4], cand[:, 4], idx, 0.7)
        cand, idx = cand[keep], idx[keep]
        return _square(_regress(cand[:, :4], cand[:, 5:9], inclusive=False)), idx

    def _windows(self, boxes, idx, width, height):
        win = _crop_windows(boxes, width, height)
        ok = (win[:, 2] > win[:, 0]) & (win[:, 3] > win[:, 1])  # boxes wholly outside the image are dropped
        return win[ok], boxes[ok], idx[ok]

    def _run(self, net, crops, chunk):
        outs = [net(_normalise(crops[i:i + chunk])) for i in range(0, len(crops), chunk)]
        return [torch.cat(parts) for parts in zip(*outs)]

    def _refine(self, integral, boxes, idx, height, width):
        """Stage 2: R-Net rescoring and regression of the candidates."""
        win, boxes, idx = self._windows(boxes, idx, width, height)
        reg, prob = self._run(self.rnet, crop_resize(integral, idx, win, 24), self.CHUNK["rnet"])
        score = prob[:, 1]
        ok = score > self.settings.thresholds[1]
        boxes, score, reg, idx = boxes[ok], score[ok], reg[ok], idx[ok]
        keep = _nms(boxes, score, idx, 0.7)
        return _square(_regress(boxes[keep], reg[keep])), idx[keep]

    def _output(self, integral, boxes, idx, height, width):
        """Stage 3: O-Net scores, boxes and landmarks; NMS 'min' within each image."""
        win, boxes, idx = self._windows(boxes, idx, width, height)
        reg, marks, prob = self._run(self.onet, crop_resize(integral, idx, win, 48), self.CHUNK["onet"])
        score = prob[:, 1]
        ok = score > self.settings.thresholds[2]
        boxes, score, reg, marks, idx = boxes[ok], score[ok], reg[ok], marks[ok], idx[ok]
        w = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
        h = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
        px = w * marks[:, :5] + boxes[:, 0:1] - 1
        py = h * marks[:, 5:] + boxes[:, 1:2] - 1
        points = torch.stack([px, py], dim=2)
        boxes = _regress(boxes, reg)
        keep = _nms(boxes, score, idx, 0.7, mode="min", inclusive=True)
        return boxes[keep], score[keep], points[keep], idx[keep]
