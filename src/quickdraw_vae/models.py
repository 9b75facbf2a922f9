"""The networks: two encoders (row-reading bi-GRU, convolutional), one decoder, the VAE around them,
in two architectures: ours (`residual`) and the study's own layers (`study`).

A model is built from a `ModelConfig`, and the config is stored next to the weights in every
checkpoint (nanoGPT's GPTConfig idea), so sampling and scoring rebuild exactly what was trained.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .choices import ARCHITECTURES, ENCODERS, PRIORS
from .errors import QuickdrawError

COND_MODES = ("none", "add")
# Format 2 dropped the options removed once measured (RETIRED); a format-1 checkpoint names them in its
# config, or trained with the value listed first when it lacks the key.
CHECKPOINT_FORMAT = 2
RETIRED = {
    "rnn_readout": ("last", "rows", "docs/tuning.md 1, revision 9e9d8ab"),
    "rnn_layers": (1, 1, "docs/tuning.md 4, revision 9e9d8ab"),
    "decoder_output": ("transpose", "transpose", "docs/decisions.md D, revision 9e9d8ab"),
}
RETIRED_COND_MODES = {"shift": "docs/decisions.md C", "concat": "docs/decisions.md F", "cvae": "docs/decisions.md F"}


@dataclass(frozen=True)
class ModelConfig:
    encoder: str  # "rnn": bi-GRU over the 28 rows; "cnn": strided convolutions
    latent: int
    channels: int
    hidden: int
    rnn_hidden: int
    dropout: float
    num_classes: int = 0
    # How the class enters a conditional model: "add", the study's: its embedding added to z before decoding.
    cond_mode: str = "none"
    # Feature maps at 14x14, where a 3x3 convolution costs 4x what it does at 7x7 (None: `channels`).
    fine_channels: int | None = None
    # The features each of the 28 rows keeps in the RNN encoder's readout (28 x 32 numbers by default,
    # near the CNN's 7 x 7 x 32). Checkpoints without the key used 32.
    rnn_row_features: int = 32
    # "residual": ours; "study": the study's layers (StudyRowGRUEncoder, StudyConvEncoder, StudyDecoder),
    # which read only latent, channels and rnn_hidden. Checkpoints without the key are "residual".
    architecture: str = "residual"
    # p(z): "standard", N(0, I); "mixture", `prior_components` diagonal Gaussians whose means, variances and
    # weights train with the model. Checkpoints without the key have the standard prior.
    prior: str = "standard"
    prior_components: int = 0

    def __post_init__(self):
        if self.prior not in PRIORS:
            raise QuickdrawError(f"model config: unknown prior {self.prior!r} ({', '.join(PRIORS)})")
        if (self.prior == "mixture") != (self.prior_components > 0):
            raise QuickdrawError("model config: a mixture prior needs prior_components > 0, the standard prior 0")
        if self.architecture not in ARCHITECTURES:
            raise QuickdrawError(f"model config: unknown architecture {self.architecture!r} ({', '.join(ARCHITECTURES)})")
        if self.encoder not in ENCODERS:
            raise QuickdrawError(f"model config: unknown encoder {self.encoder!r} ({', '.join(ENCODERS)})")
        if self.cond_mode not in COND_MODES:
            raise QuickdrawError(f"model config: unknown cond_mode {self.cond_mode!r} ({', '.join(COND_MODES)})")
        if (self.cond_mode == "none") != (self.num_classes == 0):
            raise QuickdrawError("model config: a conditional model needs num_classes > 0 and a cond_mode")

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    @property
    def widths(self) -> tuple[int, int]:
        """Feature maps at 14x14 and at 7x7."""
        return self.fine_channels or self.channels, 2 * self.channels


class RowGRUEncoder(nn.Module):
    """Reads the drawing as a sequence of 28 rows of 28 pixels, both directions; every row's output is
    normalised, projected to `rnn_row_features` numbers and flattened, so each row keeps its place as a
    CNN's feature map does (the final states alone lost 19 nats: docs/tuning.md 1)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        h = cfg.rnn_hidden
        self.gru = nn.GRU(28, h, batch_first=True, bidirectional=True)
        self.rows = nn.Sequential(nn.LayerNorm(2 * h), nn.Linear(2 * h, cfg.rnn_row_features), nn.SiLU())
        self.out_dim = 28 * cfg.rnn_row_features

    def forward(self, x):
        outputs, _ = self.gru(x.reshape(-1, 28, 28))  # (B, 28, 2H)
        return self.rows(outputs).flatten(1)


class ResBlock(nn.Module):
    """Pre-activation residual block: BatchNorm and SiLU before each 3x3 convolution."""

    def __init__(self, c: int):
        super().__init__()
        self.f = nn.Sequential(nn.BatchNorm2d(c), nn.SiLU(), nn.Conv2d(c, c, 3, 1, 1),
                               nn.BatchNorm2d(c), nn.SiLU(), nn.Conv2d(c, c, 3, 1, 1))

    def forward(self, x):
        return x + self.f(x)


class ConvEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        fine, coarse = cfg.widths
        self.net = nn.Sequential(
            nn.Conv2d(1, fine, 4, 2, 1), nn.SiLU(), ResBlock(fine),  # 14x14
            nn.Conv2d(fine, coarse, 4, 2, 1), nn.SiLU(), ResBlock(coarse),  # 7x7
            nn.Flatten(),
        )
        self.out_dim = coarse * 7 * 7

    def forward(self, x):
        return self.net(x)


class FoldConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution computed as what it is, on the CPU: every input pixel's channels
    times the kernel (one matrix product), the products summed into place (col2im, `F.fold`).

    Same parameters and outputs as `nn.ConvTranspose2d`; for the decoder's last layer (one output
    channel) oneDNN's kernel runs far below the CPU's arithmetic rate, forward and backward
    (docs/performance.md). Elsewhere (CUDA, MPS) the library kernel runs.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.groups != 1 or self.dilation != (1, 1) or self.output_padding != (0, 0):
            raise ValueError("FoldConvTranspose2d: groups, dilation and output_padding are not supported")

    def forward(self, x, output_size=None):
        if x.device.type != "cpu" or x.dim() != 4 or output_size is not None:
            return super().forward(x, output_size)
        b, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        cols = x.permute(0, 2, 3, 1).reshape(b * h * w, c) @ self.weight.reshape(c, -1)
        size = ((h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw)
        y = F.fold(cols.view(b, h * w, -1).transpose(1, 2), size, (kh, kw), stride=(sh, sw), padding=(ph, pw))
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


class Decoder(nn.Module):
    """z -> fully connected -> 7x7 feature map -> transposed convolutions -> 28x28 logits.

    The last step is the study's, one 4x4 stride-2 transposed convolution to the logits; a 3x3
    convolution after it, or resizing and convolving instead, bought likelihood and cost sample FID
    (docs/decisions.md D).
    """

    def __init__(self, cfg: ModelConfig, z_dim: int):
        super().__init__()
        fine, coarse = cfg.widths
        # Built first, as it always was: the same seed gives the same initial weights as before.
        output = FoldConvTranspose2d(fine, 1, 4, 2, 1)  # 28x28 logits
        self.net = nn.Sequential(
            nn.Linear(z_dim, cfg.hidden), nn.SiLU(), nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, coarse * 7 * 7), nn.SiLU(),
            nn.Unflatten(1, (coarse, 7, 7)), ResBlock(coarse),
            nn.ConvTranspose2d(coarse, fine, 4, 2, 1), nn.BatchNorm2d(fine), nn.SiLU(), ResBlock(fine),  # 14x14
            output,
        )

    def forward(self, z):
        return self.net(z)


class StudyRowGRUEncoder(nn.Module):
    """The study's RNN encoder: one bidirectional GRU layer over the 28 rows, every row's output kept
    (28 x 2 x rnn_hidden numbers, flattened) for the mu / logvar layer."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gru = nn.GRU(28, cfg.rnn_hidden, batch_first=True, bidirectional=True)
        self.out_dim = 28 * 2 * cfg.rnn_hidden

    def forward(self, x):
        return self.gru(x.reshape(-1, 28, 28))[0].flatten(1)


class StudyConvEncoder(nn.Module):
    """The study's CNN encoder: 3x3 convolutions of `channels`, 2x and 4x that many maps (strides 2, 2,
    1), ReLU, no normalisation."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c = cfg.channels
        self.net = nn.Sequential(nn.Conv2d(1, c, 3, 2, 1), nn.ReLU(), nn.Conv2d(c, 2 * c, 3, 2, 1), nn.ReLU(),
                                 nn.Conv2d(2 * c, 4 * c, 3, 1, 1), nn.ReLU(), nn.Flatten())
        self.out_dim = 4 * c * 7 * 7

    def forward(self, x):
        return self.net(x)


class StudyDecoder(nn.Module):
    """The study's decoder: z -> 4c x 7 x 7 (ReLU) -> transposed convolutions to 2c (14x14) and c maps
    (28x28), ReLU, then a 3x3 one to the logits (the study applied the sigmoid in the model, we in the loss)."""

    def __init__(self, cfg: ModelConfig, z_dim: int):
        super().__init__()
        c = cfg.channels
        self.net = nn.Sequential(nn.Linear(z_dim, 4 * c * 7 * 7), nn.ReLU(), nn.Unflatten(1, (4 * c, 7, 7)),
                                 nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, 1), nn.ReLU(),
                                 nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ReLU(),
                                 FoldConvTranspose2d(c, 1, 3, 1, 1))

    def forward(self, z):
        return self.net(z)


class VAE(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        study = cfg.architecture == "study"
        if cfg.encoder == "rnn":
            self.encoder = StudyRowGRUEncoder(cfg) if study else RowGRUEncoder(cfg)
        else:
            self.encoder = StudyConvEncoder(cfg) if study else ConvEncoder(cfg)
        self.embedding = nn.Embedding(cfg.num_classes, cfg.latent) if cfg.conditional else None
        if study:  # the study's fc_mu and fc_logvar as one layer: the same weights, the same count
            self.head = nn.Linear(self.encoder.out_dim, 2 * cfg.latent)
        else:
            self.head = nn.Sequential(
                nn.Linear(self.encoder.out_dim, cfg.hidden), nn.SiLU(), nn.Dropout(cfg.dropout),
                nn.Linear(cfg.hidden, 2 * cfg.latent),
            )
        self.decoder = StudyDecoder(cfg, cfg.latent) if study else Decoder(cfg, cfg.latent)
        # Built last: the other layers start from the same weights under either prior for a given seed.
        self.prior = MixturePrior(cfg.prior_components, cfg.latent) if cfg.prior == "mixture" else None
        # Channels-last convolution weights make every feature map channels-last: on the CPU,
        # scoring (the IWAE bound, samples) and training run faster (docs/performance.md).
        self.to(memory_format=torch.channels_last)

    def _label(self, y):
        if y is None:
            raise QuickdrawError("a conditional model needs class labels")
        return self.embedding(y)

    def encode(self, x, y=None):
        """The posterior's mean and log-variance; the encoder reads the drawing alone, the label only
        reaches the decoder (`y` is accepted so every model is called alike)."""
        return self.head(self.encoder(x)).chunk(2, dim=1)

    def decode(self, z, y=None, class_scale: float = 1.0):
        """Logits of the drawings of codes `z` (of classes `y`): a conditional model decodes z + s e_y.
        `class_scale` s multiplies the class embedding: 1 is the model as trained; above 1 stresses
        the class, as guidance does in diffusion models (sample.class_scale)."""
        if self.embedding is not None:
            z = z + class_scale * self._label(y)
        return self.decoder(z)

    def log_prior(self, z):
        """log p(z) per code, shape (...,) for codes (..., latent)."""
        if self.prior is None:
            zero = torch.zeros_like(z)
            return gaussian_log_prob(z, zero, zero)
        return self.prior.log_prob(z)

    def kl(self, mu, logvar, z):
        """KL(q(z|x) || p(z)) per drawing: analytic against N(0, I); against a mixture, which has no closed
        form, log q(z|x) - log p(z) at the drawing's sampled code `z` (unbiased, one sample)."""
        if self.prior is None:
            return kld(mu, logvar)
        return gaussian_log_prob(z, mu, logvar) - self.prior.log_prob(z)

    def sample_prior(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """`n` codes from p(z), on the CPU."""
        if self.prior is None:
            return torch.randn(n, self.cfg.latent, generator=gen)
        return self.prior.sample(n, gen)

    def forward(self, x, y=None):
        """Logits, the posterior's mean and log-variance, and the KL term per drawing (computed here, so
        that a learned prior's parameters take part in the forward pass DistributedDataParallel sees)."""
        mu, logvar = self.encode(x, y)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z, y), mu, logvar, self.kl(mu, logvar, z)


def kld(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-drawing KL(q(z|x) || N(0, I)), shape (B,)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)


def gaussian_log_prob(z, mu, logvar):
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    return -0.5 * (((z - mu) ** 2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(-1)


class MixturePrior(nn.Module):
    """p(z) = sum_k w_k N(z; m_k, diag(s_k^2)), every part learned with the model (Tomczak and Welling's
    VampPrior learns the same kind of mixture through pseudo-inputs; here its parameters are free). The
    components start as draws of N(0, I) with unit variances and equal weights: near the standard prior."""

    def __init__(self, components: int, latent: int):
        super().__init__()
        self.means = nn.Parameter(torch.randn(components, latent))
        self.logvars = nn.Parameter(torch.zeros(components, latent))
        self.logits = nn.Parameter(torch.zeros(components))

    def log_prob(self, z):
        per_component = gaussian_log_prob(z.unsqueeze(-2), self.means, self.logvars)  # (..., K)
        return torch.logsumexp(per_component + F.log_softmax(self.logits, 0), dim=-1)

    @torch.no_grad()
    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        weights = F.softmax(self.logits, 0).cpu()
        component = torch.multinomial(weights.expand(n, -1), 1, generator=gen).squeeze(1)
        eps = torch.randn(n, self.means.shape[1], generator=gen)
        return self.means.cpu()[component] + torch.exp(0.5 * self.logvars.cpu()[component]) * eps


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_checkpoint(path: str | Path, model: VAE, classes: list[str], **extra) -> None:
    from .files import save_torch

    save_torch(path, {"format": CHECKPOINT_FORMAT, "kind": "vae", "config": asdict(model.cfg), "classes": list(classes),
                      "state_dict": model.state_dict(), **extra})


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[VAE, dict]:
    """Rebuild a model from a checkpoint; any problem is one QuickdrawError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise QuickdrawError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # torch raises many types for corrupt or pickled files
        raise QuickdrawError(f"{path}: not a quickdraw-vae checkpoint ({type(e).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") not in (1, CHECKPOINT_FORMAT):
        raise QuickdrawError(f"{path}: not a quickdraw-vae checkpoint (no format {CHECKPOINT_FORMAT} marker)")
    if payload.get("kind") != "vae":
        raise QuickdrawError(f"{path}: not a quickdraw-vae checkpoint (it holds a {payload.get('kind')!r}, not a VAE)")
    try:
        config = _current(payload["config"], path) if payload["format"] == 1 else payload["config"]
        model = VAE(ModelConfig(**config)).to(device)
        model.load_state_dict(payload["state_dict"])
    except (TypeError, KeyError, RuntimeError) as e:
        raise QuickdrawError(f"{path}: weights do not match the stored architecture ({str(e).splitlines()[0]})") from None
    model.eval()
    return model, payload


def _current(config: dict, path: Path) -> dict:
    """A format-1 config as today's ModelConfig reads it: a removed option's key dropped where the model
    used the value kept; a model trained with a removed option named, with the decision that removed it."""
    config = dict(config)
    residual = config.get("architecture", "residual") == "residual"
    for key, (absent, kept, decision) in RETIRED.items():
        used = config.pop(key, absent)
        applies = residual and (key == "decoder_output" or config.get("encoder") == "rnn")
        if applies and used != kept:
            raise QuickdrawError(f"{path}: trained with {key} {used!r}, an option since removed ({decision})")
    mode = config.get("cond_mode", "none")
    if mode in RETIRED_COND_MODES:
        raise QuickdrawError(f"{path}: trained with cond_mode {mode!r}, an option since removed "
                             f"({RETIRED_COND_MODES[mode]}, revision 9e9d8ab)")
    return config


def config_from_params(name: str, mp, num_classes: int = 0) -> ModelConfig:
    """The architecture named in dvc.yaml's matrix (`rnn_cnn`, `cnn_cnn`) with its params.yaml sizes."""
    encoder = {"rnn_cnn": "rnn", "cnn_cnn": "cnn"}.get(name)
    if encoder is None:
        raise QuickdrawError(f"unknown model {name!r} (rnn_cnn, cnn_cnn)")
    cond_mode = "add" if num_classes else "none"
    # The CNN encoder reads no rnn_* key: its config keeps their defaults, as its checkpoints always have.
    rnn = dict(rnn_row_features=mp.rnn_row_features) if encoder == "rnn" else {}
    if mp.architecture == "study":  # the study's layers read only these; the config keeps the rest at defaults
        return ModelConfig(encoder, mp.latent, mp.channels, 0, mp.rnn_hidden if encoder == "rnn" else 0, 0.0,
                           num_classes, cond_mode, architecture="study", prior=mp.prior,
                           prior_components=mp.prior_components)
    return ModelConfig(encoder, mp.latent, mp.channels, mp.hidden, mp.rnn_hidden, mp.dropout, num_classes, cond_mode,
                       fine_channels=mp.fine_channels, prior=mp.prior, prior_components=mp.prior_components, **rnn)
