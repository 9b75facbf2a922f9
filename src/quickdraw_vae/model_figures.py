"""The figures that need trained models (reconstructions, latent interpolations), drawn by `plots`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import plots
from .data import Split
from .data import to_tensor
from .models import VAE


@torch.no_grad()
def _decode_mean(model, z, y):
    return (torch.sigmoid(model.decode(z, y)) * 255).round().to(torch.uint8).squeeze(1).numpy()


def model_figures(models: dict[str, VAE], held_out: Split, classes: list[str], out_dir: Path, per_class: int = 2,
                  steps: int = 10) -> None:
    """plots/reconstructions.png and plots/interpolation.png, from held-out (validation) drawings."""
    picks = np.concatenate([np.flatnonzero(held_out.labels == c)[:per_class] for c in range(len(classes))])
    x, y = to_tensor(held_out.images[picks]), torch.from_numpy(held_out.labels[picks])
    rows, labels, lerp_rows, lerp_labels = [held_out.images[picks]], ["validation"], [], []
    for name, model in models.items():
        yc = y if model.cfg.conditional else None
        mu, _ = model.encode(x, yc)
        rows.append(_decode_mean(model, mu, yc))
        labels.append(name)
        # Interpolate between two drawings of the same class so a conditional model keeps one label.
        for c in (0, len(classes) - 1):
            a, b = mu[c * per_class], mu[c * per_class + 1]
            t = torch.linspace(0, 1, steps).unsqueeze(1)
            lab = torch.full((steps,), c) if model.cfg.conditional else None
            lerp_rows.append(_decode_mean(model, (1 - t) * a + t * b, lab))
            lerp_labels.append(f"{name}\n{classes[c]}")
    plots.image_rows(out_dir / "reconstructions.png", rows, labels, "Validation drawings (top) and reconstructions")
    plots.image_rows(out_dir / "interpolation.png", lerp_rows, lerp_labels,
                     "Latent interpolation between two validation drawings")
