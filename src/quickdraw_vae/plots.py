"""Figures: matplotlib, headless, labelled so they read at a glance."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .files import save_figure  # noqa: E402


def image_rows(path, rows: list[np.ndarray], row_labels: list[str], title: str, gap: int = 3) -> None:
    """A grid: one row per entry of `rows` (each (n, 28, 28) uint8), labelled on the left."""
    # One canvas in one axes, white between drawings: an axes per drawing made matplotlib the
    # slowest part of the sample stage.
    n_cols = max(len(r) for r in rows)
    cell = 28 + gap
    canvas = np.full((len(rows) * cell - gap, n_cols * cell - gap), 255, dtype=np.uint8)
    for r, images in enumerate(rows):
        for c, image in enumerate(images):
            canvas[r * cell : r * cell + 28, c * cell : c * cell + 28] = image
    fig, ax = plt.subplots(figsize=(n_cols * 0.7 + 1.2, len(rows) * 0.75 + 0.6))
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([r * cell + 14 for r in range(len(rows))], row_labels, fontsize=10)
    ax.tick_params(left=False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.suptitle(title)
    save_figure(path, fig)
    plt.close(fig)


def data_preview(path, images: np.ndarray, labels: np.ndarray, classes: list[str], per_class: int = 8) -> None:
    # Row indices, not a mask over the images: those may be a memory map of millions of drawings.
    rows = [images[np.flatnonzero(labels == i)[:per_class]] for i in range(len(classes))]
    image_rows(path, rows, classes, "Training drawings per class (Quick, Draw!, CC BY 4.0)")


def loss_comparison(path, histories: dict[str, dict]) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, h in histories.items():
        ax.plot(h["epoch"], h["val_total"], marker=".", label=name)
    ax.set(xlabel="epoch", ylabel="validation -ELBO (nats/drawing)", title="Validation loss: RNN-CNN vs CNN-CNN")
    ax.grid(alpha=0.3), ax.legend()
    save_figure(path, fig)
    plt.close(fig)


def loss_components(path, name: str, h: dict) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, term in zip(axes, ("bce", "kld")):
        ax.plot(h["epoch"], h[f"train_{term}"], marker=".", label="train")
        ax.plot(h["epoch"], h[f"val_{term}"], marker=".", label="validation")
        ax.set(xlabel="epoch", ylabel=f"{term.upper()} (nats/drawing)", title=f"{name}: {term.upper()} per epoch")
        ax.grid(alpha=0.3), ax.legend()
    save_figure(path, fig)
    plt.close(fig)


def loss_figures(histories: dict[str, dict], out_dir) -> None:
    """plots/loss_comparison.png (the unconditional pair) and plots/<name>_loss_components.png."""
    loss_comparison(f"{out_dir}/loss_comparison.png", {n: h for n, h in histories.items() if n != "conditional"})
    for name, h in histories.items():
        loss_components(f"{out_dir}/{name}_loss_components.png", name, h)


def confusion(path, matrix: np.ndarray, classes: list[str], title: str) -> None:
    from sklearn.metrics import ConfusionMatrixDisplay

    # Counts in the cells stay readable up to a dozen classes; beyond, the shade alone carries them (with a
    # colour bar) and the figure grows a quarter inch per class, so 50 classes' names still fit their rows.
    many = len(classes) > 12
    side = max(5.0, 0.25 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(side + 0.5, side))
    ConfusionMatrixDisplay(matrix, display_labels=classes).plot(
        ax=ax, colorbar=many, cmap="Blues", include_values=not many, xticks_rotation="vertical" if many else "horizontal")
    ax.set_title(title)
    save_figure(path, fig)
    plt.close(fig)


def labelled_samples(path, images: np.ndarray, true: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
                     classes: list[str], per_class: int = 8) -> None:
    """Conditional samples, one row per class asked for, each captioned with the judge's call."""
    gap, caption = 4, 18  # pixels between drawings, and above each row for the captions
    cell_w, cell_h = 28 + gap, 28 + caption
    canvas = np.full((len(classes) * cell_h, per_class * cell_w - gap), 255, dtype=np.uint8)
    fig, ax = plt.subplots(figsize=(per_class * 1.1, len(classes) * 1.3))
    for r in range(len(classes)):
        for c, i in enumerate(np.flatnonzero(true == r)[:per_class]):
            top, left = r * cell_h + caption, c * cell_w
            canvas[top : top + 28, left : left + 28] = images[i]
            ok = predicted[i] == r
            ax.text(left + 14, top - 1, f"{classes[predicted[i]]}\n{confidence[i]:.2f}", ha="center", va="bottom",
                    fontsize=7, color="green" if ok else "red")
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([r * cell_h + caption + 14 for r in range(len(classes))], classes)
    ax.tick_params(left=False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.suptitle("Conditional samples: judge's prediction and confidence (green = asked-for class)")
    save_figure(path, fig)
    plt.close(fig)


def metrics_bars(path, table: dict[str, dict[str, float]], metrics: list[str], title: str) -> None:
    """One panel per metric, one bar per model (the real-vs-real floor included)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        names = [n for n in table if metric in table[n]]
        ax.bar(names, [table[n][metric] for n in names], color="tab:blue")
        ax.set_title(metric)
        ax.tick_params(axis="x", rotation=30)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    save_figure(path, fig)
    plt.close(fig)


def nearest_neighbours(path, samples: dict[str, np.ndarray], neighbours: dict[str, np.ndarray]) -> None:
    """Each model's samples (one row) above their nearest training drawings (the row below)."""
    rows, labels = [], []
    for name in samples:
        rows += [samples[name], neighbours[name]]
        labels += [f"{name}\nsample", "nearest\ntraining"]
    image_rows(path, rows, labels, "Samples and their nearest training drawings (pixel distance)")
