"""The ELBO terms in nats per drawing, and the importance-weighted bound (Burda et al., 2016).

Reconstruction is the Bernoulli cross-entropy summed over the 784 pixels with targets in [0, 1]
(what the study reported), KL is analytic against N(0, I).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-drawing reconstruction term, shape (B,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def kld(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-drawing KL(q(z|x) || N(0, I)), shape (B,)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)


def _gaussian_log_prob(z, mu, logvar):
    return -0.5 * (((z - mu) ** 2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(-1)


@torch.no_grad()
def iwae_nll(model, x: torch.Tensor, y: torch.Tensor | None, k: int, chunk: int = 4096) -> torch.Tensor:
    """-log p(x) bounded with k importance samples, per drawing, shape (B,).

    The cost is k decodes per drawing, so drawings and samples are batched to about `chunk`
    decodes per forward pass.
    """
    model.eval()
    out = []
    per_pass = max(1, min(k, chunk))
    rows = max(1, chunk // per_pass)
    for start in range(0, len(x), rows):
        xb = x[start : start + rows]
        yb = None if y is None else y[start : start + rows]
        mu, logvar = model.encode(xb, yb)
        log_w = []
        for done in range(0, k, per_pass):
            kc = min(per_pass, k - done)
            z = mu + torch.randn(kc, *mu.shape, device=mu.device) * torch.exp(0.5 * logvar)
            flat = z.reshape(-1, mu.shape[1])
            y_rep = None if yb is None else yb.repeat(kc)
            logits = model.decode(flat, y_rep)
            log_px = -bce(logits, xb.repeat(kc, 1, 1, 1)).view(kc, -1)
            log_pz = _gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
            log_qz = _gaussian_log_prob(z, mu, logvar)
            log_w.append(log_px + log_pz - log_qz)
        out.append(-(torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)))
    return torch.cat(out)
