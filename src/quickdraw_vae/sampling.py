"""Turning a trained decoder into drawings: where z comes from, and how logits become pixels.

Latent strategies (`sample.strategy`):
- `prior`: z ~ p(z), what the VAE objective promises: N(0, I), or the mixture a model learned
  (`models.*.prior: mixture`);
- `gmm`: a Gaussian mixture fitted (scikit-learn) to the encoded training drawings, per class for a
  conditional model, sampled with its component covariances scaled by T^2. It follows the
  aggregate posterior, which the prior only approximates (N(0, T^2 I) did no better than the prior:
  docs/decisions.md A).
- `mixed`: the study's hand-mixed latent patterns for its IS/FID samples, five in turn (`mixed_latents`).
Class scale (`sample.class_scale`, conditional models): the class embedding is multiplied by it before
decoding; above 1 the drawings lean toward what sets their class apart (docs/decisions.md I).
Pixel mappings (`sample.pixels`), never a hidden post-process:
- `mean`: sigmoid(logits) * 255, the decoder's expected pixel;
- `sharpened`: sigmoid(k * logits) * 255, k = `sample.sharpen`, crisper strokes (docs/decisions.md B).
The fitted mixture and these choices are stored beside the model (`<model>.sampler.pt`, tensors
and strings only) so the CLI samples the same way without the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .choices import PIXELS, STRATEGIES
from .errors import QuickdrawError

# The latent codes a mixture or a class mean is fitted on: all the training drawings up to this many, a
# seeded subset beyond (20 components of 32-d Gaussians per class are settled long before; the study's
# 18,000 training drawings are all used).
CODE_FIT_DRAWINGS = 20_000

@dataclass
class Sampler:
    strategy: str
    temperature: float
    pixels: str
    sharpen: float
    # Per class (one "class" for an unconditional model): weights (C, K), means (C, K, L), chol (C, K, L, L).
    gmm: dict[str, torch.Tensor] = field(default_factory=dict)
    class_scale: float = 1.0  # sampler files written before it existed load as the model as trained

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise QuickdrawError(f"unknown sampling strategy {self.strategy!r} ({', '.join(STRATEGIES)})")
        if self.pixels not in PIXELS:
            raise QuickdrawError(f"unknown pixel mapping {self.pixels!r} ({', '.join(PIXELS)})")
        if not self.class_scale >= 0:
            raise QuickdrawError(f"the class scale must be >= 0, got {self.class_scale}")
        if self.strategy == "gmm" and not self.gmm:
            raise QuickdrawError("the gmm strategy needs a fitted mixture (run the sample stage)")

    def latents(self, n: int, latent: int, labels: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
        if self.strategy == "prior":
            return torch.randn(n, latent, generator=gen)
        if self.strategy == "mixed":
            return mixed_latents(n, latent, gen)
        groups = labels if labels is not None and len(self.gmm["weights"]) > 1 else torch.zeros(n, dtype=torch.long)
        weights = self.gmm["weights"][groups]
        component = torch.multinomial(weights, 1, generator=gen).squeeze(1)
        means = self.gmm["means"][groups, component]
        chol = self.gmm["chol"][groups, component]
        eps = torch.randn(n, latent, 1, generator=gen)
        return means + self.temperature * (chol @ eps).squeeze(2)

    def pixels_from_logits(self, logits: torch.Tensor) -> np.ndarray:
        p = torch.sigmoid(logits if self.pixels == "mean" else self.sharpen * logits)
        return (p * 255).round().to(torch.uint8).squeeze(1).cpu().numpy()

    def state(self) -> dict:
        return {"strategy": self.strategy, "temperature": self.temperature, "pixels": self.pixels,
                "sharpen": self.sharpen, "gmm": dict(self.gmm), "class_scale": self.class_scale}


def mixed_latents(n: int, latent: int, gen: torch.Generator) -> torch.Tensor:
    """The study's "diverse latent sampling" (its evaluate_vae_metrics.py, the CNN-CNN's scheme), drawing
    i taking pattern i mod 5: N(0, I); a quarter of the dimensions N(0, 4), the rest 0; U(-1.5, 1.5);
    N(0, 1.44) (its "alternating values": every other dimension negated, of a symmetric draw);
    N(0, 0.25) with 4 consecutive dimensions N(0, 4), starting at dimension (i // 5) mod (L - 4)."""
    i = torch.arange(n)
    pattern = i % 5
    normal = torch.randn(n, latent, generator=gen)
    sparse = torch.zeros(n, latent)
    chosen = torch.rand(n, latent, generator=gen).argsort(1)[:, : max(1, latent // 4)]
    sparse.scatter_(1, chosen, 2.0 * torch.randn(n, chosen.shape[1], generator=gen))
    uniform = (torch.rand(n, latent, generator=gen) * 2 - 1) * 1.5
    alternating = 1.2 * torch.randn(n, latent, generator=gen)
    focused = 0.5 * torch.randn(n, latent, generator=gen)
    start = (i // 5) % max(1, latent - 4)
    window = (torch.arange(latent)[None, :] >= start[:, None]) & (torch.arange(latent)[None, :] < start[:, None] + 4)
    focused = torch.where(window, 2.0 * torch.randn(n, latent, generator=gen), focused)
    options = torch.stack([normal, sparse, uniform, alternating, focused])  # (5, n, L)
    return options[pattern, i]


def fit_gmm(z: np.ndarray, groups: np.ndarray, components: int, seed: int) -> dict[str, torch.Tensor]:
    """One full-covariance mixture per group of latent codes, as plain tensors."""
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    weights, means, chols = [], [], []
    # OpenBLAS's default threading makes this small fit many times slower on 2 cores.
    with threadpool_limits(1):
        for g in np.unique(groups):
            codes = z[groups == g].astype(np.float64)
            k = min(components, len(codes))
            gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(codes)
            pad = components - k  # classes with fewer codes than components get zero-weight copies
            weights.append(np.pad(gmm.weights_, (0, pad)))
            means.append(np.concatenate([gmm.means_, np.repeat(gmm.means_[:1], pad, 0)]))
            chol = np.linalg.cholesky(gmm.covariances_)
            chols.append(np.concatenate([chol, np.repeat(chol[:1], pad, 0)]))
    as_tensor = lambda a: torch.tensor(np.stack(a), dtype=torch.float32)  # noqa: E731
    return {"weights": as_tensor(weights), "means": as_tensor(means), "chol": as_tensor(chols)}


def sampler_path(model_path: str | Path) -> Path:
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".sampler.pt")


def save_sampler(path: str | Path, sampler: Sampler) -> None:
    from .files import save_torch

    save_torch(path, sampler.state())


def load_sampler(path: str | Path) -> Sampler | None:
    path = Path(path)
    if not path.exists():
        return None
    try:
        return Sampler(**torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:
        raise QuickdrawError(f"{path}: not a sampler file ({type(e).__name__})") from None


@torch.no_grad()
def encode_posterior(model, x: torch.Tensor, y: torch.Tensor | None, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Each drawing's posterior: its mean and log-variance, on the CPU."""
    from .runtime import device_of

    model.eval()
    device = device_of(model)
    cond = model.cfg.conditional
    parts = [model.encode(x[i : i + batch].to(device), y[i : i + batch].to(device) if cond else None)
             for i in range(0, len(x), batch)]
    return tuple(torch.cat([part[k].cpu() for part in parts]) for k in (0, 1))


def encode_means(model, x: torch.Tensor, y: torch.Tensor | None, batch: int = 256) -> np.ndarray:
    return encode_posterior(model, x, y, batch)[0].numpy()


@torch.no_grad()
def reconstruct(model, x: torch.Tensor, y: torch.Tensor | None, sampler: "Sampler", batch: int = 256) -> np.ndarray:
    """Each drawing decoded from its latent mean, as uint8 (N, 28, 28) through `sampler`'s pixel mapping."""
    from .runtime import device_of

    model.eval()
    device = device_of(model)
    cond = model.cfg.conditional
    out = []
    for i in range(0, len(x), batch):
        yb = y[i : i + batch].to(device) if cond else None
        mu, _ = model.encode(x[i : i + batch].to(device), yb)
        out.append(sampler.pixels_from_logits(model.decode(mu, yb).cpu()))
    return np.concatenate(out) if out else np.zeros((0, 28, 28), np.uint8)


@torch.no_grad()
def generate(model, sampler: Sampler, n: int, labels: torch.Tensor | None, seed: int,
             batch: int = 256) -> np.ndarray:
    """`n` drawings as uint8 (n, 28, 28), white strokes on black like the dataset."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    # The prior is the model's own: N(0, I), or the mixture it learned.
    z = model.sample_prior(n, gen) if sampler.strategy == "prior" else sampler.latents(n, model.cfg.latent, labels, gen)
    return decode(model, z, labels, sampler, batch)


@torch.no_grad()
def decode(model, z: torch.Tensor, labels: torch.Tensor | None, sampler: Sampler, batch: int = 256) -> np.ndarray:
    """Codes `z` (of classes `labels`) as uint8 drawings, at `sampler`'s class scale and pixel mapping."""
    from .runtime import device_of

    model.eval()
    device = device_of(model)
    out = []
    for i in range(0, len(z), batch):
        yb = None if labels is None else labels[i : i + batch].to(device)
        logits = model.decode(z[i : i + batch].to(device), yb, sampler.class_scale).cpu()
        out.append(sampler.pixels_from_logits(logits))
    return np.concatenate(out)


def balanced_labels(n: int, num_classes: int) -> torch.Tensor:
    """Equal numbers per class (n rounded down to a multiple of the class count)."""
    per_class = n // num_classes
    if per_class == 0:
        raise QuickdrawError(f"need at least {num_classes} samples for one per class, got {n}")
    return torch.arange(num_classes).repeat_interleave(per_class)


def pixel_mapping(sp) -> Sampler:
    """The samples' pixel mapping (`sample.pixels`, `sample.sharpen`) alone, for decoding given codes."""
    return Sampler("prior", 1.0, sp.pixels, sp.sharpen)


def sampler_from_params(sp, model, train_images: np.ndarray, train_labels: np.ndarray) -> Sampler:
    """Build the sampler `sample.*` asks for, fitting the mixture on the encoded training drawings (at
    most CODE_FIT_DRAWINGS of them: a seeded subset beyond)."""
    from .data import Pixels, read_rows, subset_rows

    gmm = {}
    if sp.strategy == "gmm":
        cond = model.cfg.conditional
        rows = subset_rows(len(train_labels), CODE_FIT_DRAWINGS, sp.seed)
        if rows is not None:
            train_images, train_labels = read_rows(train_images, rows), train_labels[rows]
        z = encode_means(model, Pixels(train_images), torch.from_numpy(train_labels) if cond else None)
        groups = train_labels if cond else np.zeros(len(z), dtype=np.int64)
        gmm = fit_gmm(z, groups, sp.gmm_components, sp.seed)
    return Sampler(sp.strategy, sp.temperature, sp.pixels, sp.sharpen, gmm, sp.class_scale)


def load_samples(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A samples file: `images` uint8 (N, 28, 28), optional int `labels` (N,)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            images = z["images"]
            labels = z["labels"] if "labels" in z.files else None
    except (OSError, ValueError, KeyError) as e:
        raise QuickdrawError(f"{path}: not a samples file with an `images` array ({type(e).__name__})") from None
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise QuickdrawError(f"{path}: images must be uint8 (N, 28, 28), got {images.dtype} {images.shape}")
    if labels is not None and labels.shape != (len(images),):
        raise QuickdrawError(f"{path}: labels must have shape ({len(images)},), got {labels.shape}")
    return images, labels


def baseline_path(samples_npz: Path) -> Path:
    """Where the plain-prior baseline of a sample set goes: `<model>_prior.npz` beside it."""
    return samples_npz.with_name(samples_npz.stem + "_prior.npz")


@dataclass
class SampleSet:
    """One model's samples as the `sample` stage writes them: the configured draws (`arrays`: images,
    and labels and classes for a conditional model), the plain-prior baseline with the same N,
    labels and seed (`baseline`), the fitted sampler, and the grid figure's rows."""

    arrays: dict[str, np.ndarray]
    baseline: dict[str, np.ndarray]
    sampler: Sampler
    rows: list[np.ndarray]
    row_labels: list[str]
    title: str


def sample_model(model, name: str, train, classes: list[str], sp) -> SampleSet:
    """`sample.n` drawings from `model` the way `sample.*` asks, the mixture fitted on `train` (a Split),
    and the baseline drawn the plain way (z from the model's prior, mean pixels), so evaluation can say what the
    sampler itself buys."""
    sampler = sampler_from_params(sp, model, train.images, train.labels)
    labels = balanced_labels(sp.n, len(classes)) if model.cfg.conditional else None
    n = sp.n if labels is None else len(labels)
    plain = generate(model, Sampler("prior", 1.0, "mean", sp.sharpen), n, labels, sp.seed)
    images = generate(model, sampler, n, labels, sp.seed)
    if model.cfg.conditional:
        arrays = {"images": images, "labels": labels.numpy().astype(np.int64), "classes": np.array(classes)}
        rows = [images[labels.numpy() == c][:12] for c in range(len(classes))]
        row_labels, title = list(classes), f"{name}: class-conditional samples ({sp.strategy}, {sp.pixels} pixels)"
    else:
        arrays = {"images": images}
        rows, row_labels = [images[r * 12 : (r + 1) * 12] for r in range(6)], [""] * 6
        title = f"{name}: samples ({sp.strategy}, {sp.pixels} pixels)"
    return SampleSet(arrays, {**arrays, "images": plain}, sampler, rows, row_labels, title)
