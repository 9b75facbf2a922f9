"""The ELBO terms in nats per drawing, and the importance-weighted bound (Burda et al., 2016): what
training minimises, and what every held-out figure of a model reports.

Reconstruction is the Bernoulli cross-entropy summed over the 784 pixels with targets in [0, 1]
(what the study reported); KL is analytic against N(0, I), and one-sample Monte Carlo against a learned
mixture prior (`models.VAE.kl`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .models import gaussian_log_prob
from .runtime import device_of


def bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-drawing reconstruction term, shape (B,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def feature_distance(feature_layers, logits: torch.Tensor, x: torch.Tensor, sharpen: float) -> torch.Tensor:
    """Per-drawing squared distance, shape (B,), between a sketch classifier's features of the decoded
    drawing (pixels sigmoid(sharpen x logits), as they are shown) and of the drawing itself.

    `feature_layers` gives a list of layers, the last one the feature layer. Each layer counts as much as
    the last one: its squared distance is scaled to the last layer's size, so a wide early layer does not
    drown the features the class is read from."""
    with torch.no_grad():
        targets = feature_layers(x)
    size = targets[-1].shape[1]
    return sum((a - b).pow(2).sum(1) * (size / b.shape[1])
               for a, b in zip(feature_layers(torch.sigmoid(sharpen * logits)), targets))


@torch.no_grad()
def iwae_nll(model, x: torch.Tensor, y: torch.Tensor | None, k: int, chunk: int = 4096) -> torch.Tensor:
    """-log p(x) bounded with k importance samples, per drawing, shape (B,).

    The cost is k decodes per drawing, so drawings and samples are batched to about `chunk`
    decodes per forward pass.
    """
    model.eval()
    device = device_of(model)
    out = []
    per_pass = max(1, min(k, chunk))
    rows = max(1, chunk // per_pass)
    for start in range(0, len(x), rows):
        xb = x[start : start + rows].to(device)
        yb = None if y is None else y[start : start + rows].to(device)
        mu, logvar = model.encode(xb, yb)
        log_w = []
        for done in range(0, k, per_pass):
            kc = min(per_pass, k - done)
            z = mu + torch.randn(kc, *mu.shape, device=mu.device) * torch.exp(0.5 * logvar)
            flat = z.reshape(-1, mu.shape[1])
            y_rep = None if yb is None else yb.repeat(kc)
            logits = model.decode(flat, y_rep)
            log_px = -bce(logits, xb.repeat(kc, 1, 1, 1)).view(kc, -1)
            log_pz = model.log_prior(z)
            log_qz = gaussian_log_prob(z, mu, logvar)
            log_w.append(log_px + log_pz - log_qz)
        out.append(-(torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)).cpu())
    return torch.cat(out)


@torch.no_grad()
def elbo_terms(model, x: torch.Tensor, y: torch.Tensor | None, batch: int = 256) -> dict[str, float]:
    """Mean BCE, KLD and -ELBO (nats per drawing), with one sample from q(z|x) per drawing."""
    # 256 drawings' activations fit the CPU's caches; larger batches ran slower (docs/performance.md).
    model.eval()
    device = device_of(model)
    sums = torch.zeros(2, dtype=torch.float64)
    for start in range(0, len(x), batch):
        xb = x[start : start + batch].to(device)
        yb = None if y is None else y[start : start + batch].to(device)
        mu, logvar = model.encode(xb, yb)
        # One reparameterised sample, as in training: the ELBO is an expectation over q(z|x).
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        sums += torch.stack([bce(model.decode(z, yb), xb).sum(), model.kl(mu, logvar, z).sum()]).double().cpu()
    b, k = (sums / len(x)).tolist()
    return {"bce": b, "kld": k, "neg_elbo": b + k}


def likelihood(model, x: torch.Tensor, y: torch.Tensor | None, iwae_k: int, iwae_chunk: int, seed: int) -> dict:
    """-ELBO terms and the importance-weighted bound with `iwae_k` samples, nats per drawing."""
    torch.manual_seed(seed)
    out = elbo_terms(model, x, y)
    torch.manual_seed(seed)
    out.update(iwae_nll=iwae_nll(model, x, y, iwae_k, iwae_chunk).mean().item(), iwae_k=iwae_k, n=len(x))
    return out
