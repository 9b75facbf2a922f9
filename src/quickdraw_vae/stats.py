"""Deciding a claim over seeds: paired differences, Holm's correction, three outcomes.

Each claim is a paired difference A - B over runs (the same seed gives both sides). A two-sided
paired t-test (`scipy.stats.ttest_rel`) gives its p-value; Holm's step-down correction keeps the
chance of any false "holds" or "does not hold" across a family of claims at ALPHA; the 95% interval
of the mean difference and Cohen's d_z (mean / std) give its size. Outcomes: "holds" (corrected p
< ALPHA, in the claimed direction), "does not hold" (corrected p < ALPHA, against it), "inconclusive"
(otherwise, with fewer than MIN_RUNS runs, and whenever the runs show no seed-to-seed spread to test
against). Wilcoxon's signed-rank test is not used: with five runs or fewer its smallest two-sided
p-value is 1/16, so it could never decide.

A claim about the drawings themselves (one judge, one test split: every run gives the same figure)
varies over drawings, not seeds: `compare_proportions` tests it with Fisher's exact test on the
counts, and it joins the same Holm family.
"""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.05
# Fewer runs than this decide nothing: two runs give one degree of freedom, a spread estimated from
# a single difference, which a near-deterministic figure (say, one only the evaluation seed moves)
# turns into a tiny p-value.
MIN_RUNS = 3


def judge_difference(a: list[float], b: list[float], expect_positive: bool) -> dict:
    """Paired a - b over seeds: mean, std, 95% interval, d_z, and the uncorrected two-sided p-value."""
    from scipy import stats

    d = np.asarray(a, float) - np.asarray(b, float)
    n, mean = len(d), float(d.mean())
    std = float(d.std(ddof=1)) if n > 1 else 0.0
    if n < 2 or std == 0.0:  # nothing varied between the runs: no spread to test a difference against
        return {"n": n, "mean": mean, "std": std, "low": math.nan, "high": math.nan, "d_z": math.nan,
                "p": math.nan, "expect_positive": expect_positive}
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    p = float(stats.ttest_rel(np.asarray(a, float), np.asarray(b, float)).pvalue)
    return {"n": n, "mean": mean, "std": std, "low": mean - half, "high": mean + half, "d_z": mean / std, "p": p,
            "expect_positive": expect_positive}


def compare_proportions(hits_a: int, n_a: int, hits_b: int, n_b: int, expect_positive: bool) -> dict:
    """Proportion a - proportion b over drawings: Fisher's exact two-sided p-value, and the difference's
    95% Wald interval. `n` counts drawings here (always enough to decide)."""
    from scipy import stats

    pa, pb = hits_a / n_a, hits_b / n_b
    p = float(stats.fisher_exact([[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]]).pvalue)
    half = 1.96 * math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    return {"n": max(n_a, n_b), "mean": pa - pb, "std": math.nan, "low": pa - pb - half, "high": pa - pb + half,
            "d_z": math.nan, "p": p, "expect_positive": expect_positive, "drawings": True}


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted as a test)."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    adjusted, running = [math.nan] * len(pvalues), 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


def outcome(result: dict, p_holm: float) -> str:
    if (result["n"] < MIN_RUNS and not result.get("drawings")) or math.isnan(p_holm) or p_holm >= ALPHA:
        return "inconclusive"
    return "holds" if (result["mean"] > 0) == result["expect_positive"] else "does not hold"


def welch(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of Welch's unpaired t-test (different seeds on each side); NaN without spread."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2 or (np.std(a) == 0 and np.std(b) == 0):
        return math.nan
    return float(stats.ttest_ind(np.asarray(a, float), np.asarray(b, float), equal_var=False).pvalue)
