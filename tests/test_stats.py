"""The claims' statistics: paired t-test, Fisher's exact test, Holm's correction, three outcomes."""

import math

import pytest
from scipy import stats

from quickdraw_vae.stats import compare_proportions, holm, judge_difference, outcome


def test_a_clear_paired_difference_holds_and_its_reverse_does_not():
    a, b = [10.0, 11.0, 10.5, 10.2, 10.8], [8.0, 9.1, 8.4, 8.3, 8.9]
    r = judge_difference(a, b, expect_positive=True)
    assert r["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert r["low"] < r["mean"] < r["high"] and r["low"] > 0
    assert outcome(r, r["p"]) == "holds"
    assert outcome(judge_difference(a, b, expect_positive=False), r["p"]) == "does not hold"


def test_the_interval_is_the_t_interval_of_the_mean_difference():
    a, b = [1.0, 2.0, 4.0], [0.0, 0.0, 0.0]
    r = judge_difference(a, b, True)
    half = stats.t.ppf(0.975, 2) * stats.tstd(a) / math.sqrt(3)
    assert (r["low"], r["high"]) == pytest.approx((7 / 3 - half, 7 / 3 + half))
    assert r["d_z"] == pytest.approx((7 / 3) / stats.tstd(a))


def test_noise_and_two_runs_are_inconclusive():
    noisy = judge_difference([1.0, -1.0, 2.0, -2.0, 0.5], [0.0] * 5, True)
    assert outcome(noisy, noisy["p"]) == "inconclusive"
    two = judge_difference([10.0, 12.0], [8.0, 9.0], True)
    assert outcome(two, holm([two["p"]] * 12)[0]) == "inconclusive"
    # two runs never decide, however small the p-value of one degree of freedom
    tight = judge_difference([10.0, 10.01], [5.0, 5.0], True)
    assert tight["p"] < 0.01 and outcome(tight, tight["p"]) == "inconclusive"


def test_no_spread_between_runs_is_inconclusive_not_certain():
    r = judge_difference([5.0, 5.0, 5.0], [1.0, 1.0, 1.0], True)
    assert math.isnan(r["p"]) and outcome(r, math.nan) == "inconclusive"


def test_holm_adjusts_step_down_and_keeps_order():
    # sorted p: 0.01 (x3), 0.02 (x2), 0.04 (x1), monotone
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    adjusted = holm([0.5, math.nan, 0.001])
    assert adjusted[2] == pytest.approx(0.002) and adjusted[0] == pytest.approx(0.5) and math.isnan(adjusted[1])


def test_a_proportion_difference_over_drawings_uses_fishers_exact_test():
    r = compare_proportions(158, 160, 140, 160, expect_positive=True)
    assert r["p"] == pytest.approx(stats.fisher_exact([[158, 2], [140, 20]]).pvalue)
    assert r["mean"] == pytest.approx(18 / 160) and r["low"] > 0
    assert outcome(r, r["p"]) == "holds"
    assert outcome(compare_proportions(80, 100, 78, 100, True), 0.8) == "inconclusive"
