"""Figures: matplotlib, headless, labelled so they read at a glance."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .files import save_figure  # noqa: E402


def image_rows(path, rows: list[np.ndarray], row_labels: list[str], title: str) -> None:
    """A grid: one row per entry of `rows` (each (n, 28, 28) uint8), labelled on the left."""
    n_cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(n_cols * 0.7 + 1.2, len(rows) * 0.75 + 0.6), squeeze=False)
    for r, (images, label) in enumerate(zip(rows, row_labels)):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(images):
                ax.imshow(images[c], cmap="gray", vmin=0, vmax=255)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    fig.suptitle(title)
    save_figure(path, fig)
    plt.close(fig)


def data_preview(path, images: np.ndarray, labels: np.ndarray, classes: list[str], per_class: int = 8) -> None:
    rows = [images[labels == i][:per_class] for i in range(len(classes))]
    image_rows(path, rows, classes, "Training drawings per class (Quick, Draw!, CC BY 4.0)")
