"""Choosing between the two unconditional models: validation -ELBO only, never test.

Kept free of PyTorch so the `select_best` stage starts in a fraction of a second.
"""

from __future__ import annotations


def pick_best(reports: dict[str, dict]) -> dict:
    """The unconditional model with the lowest validation -ELBO (test is never consulted)."""
    scores = {name: r["validation"]["neg_elbo"] for name, r in reports.items()}
    best = min(sorted(scores), key=scores.get)
    return {"best": best, "criterion": "validation neg_elbo (nats/drawing)", "validation_neg_elbo": scores}
