"""Figures for the report, returned as PNG bytes (embedded in the page, so it opens offline)."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def roc_figure(curves: list[dict]) -> bytes:
    """ROC curves (TPR against FPR on a log axis). Each curve: label, fpr, tpr, and optional style hints."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for c in curves:
        fpr = np.asarray(c["fpr"])
        tpr = np.asarray(c["tpr"])
        keep = fpr > 0
        ax.step(fpr[keep], tpr[keep], where="post", label=c["label"], lw=c.get("lw", 1.6), ls=c.get("ls", "-"),
                alpha=c.get("alpha", 1.0))
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1.0)
    ax.set_ylim(0.0, 1.005)
    ax.set_xlabel("false accept rate (FPR)")
    ax.set_ylabel("true accept rate (TPR)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return png(fig)


def landmark_figure(panels: list[dict]) -> bytes:
    """Images with landmark sets drawn on them.

    Each panel: title, image (HxWx3 uint8), sets: [(label, (5, 2) points)], drawn with distinct markers."""
    markers = [("o", "#00e000"), ("x", "#ff3030"), ("+", "#30a0ff")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        ax.imshow(panel["image"])
        for (label, pts), (marker, colour) in zip(panel["sets"], markers):
            pts = np.asarray(pts, dtype=float)
            hollow = {"facecolors": "none", "edgecolors": colour} if marker == "o" else {"c": colour}
            ax.scatter(pts[:, 0], pts[:, 1], s=28, marker=marker, label=label, linewidths=1.4, **hollow)
        ax.set_title(panel["title"], fontsize=8)
        ax.axis("off")
    axes[0][0].legend(loc="lower left", fontsize=7, framealpha=0.8)
    return png(fig)
