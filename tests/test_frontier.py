"""The sampler's frontier: settings as written on the command line, the rule that picks one, the figure."""

import pytest

from quickdraw_vae.errors import QuickdrawError
from quickdraw_vae.frontier import Rule, Setting, frontier_figure, mean_rows, pooled_spread, shifted


def _row(recall, precision=0.9, judge=0.96, weakest=0.93, copies=0.05, t=0.7):
    return {"setting": Setting(t, 1.0, 20, 6.0), "recall": recall, "precision": precision, "judge": judge,
            "weakest": weakest, "copies": copies}


def test_a_setting_reads_temperature_scale_components_and_optional_sharpening():
    assert Setting.parse("0.9:1.25:20") == Setting(0.9, 1.25, 20, None)
    assert Setting.parse("1:1:10:1").label() == "T 1, x1, 10 comp., mean"
    for bad in ("0.9:1.25", "a:1:20", "0:1:20", "0.9:1:0", "0.9:1:20:0", "0.9:-1:20"):
        with pytest.raises(QuickdrawError, match="sampler setting"):
            Setting.parse(bad)


def test_the_rule_takes_the_highest_recall_that_clears_every_floor():
    rows = [_row(0.70), _row(0.80), _row(0.95, precision=0.80), _row(0.90, weakest=0.91), _row(0.92, copies=0.08),
            _row(0.85, judge=0.94)]
    assert Rule().pick(rows) is rows[1]
    assert Rule(min_precision=0.75).pick(rows) is rows[2]
    assert Rule().pick([_row(0.9, precision=0.5)]) is None
    unconditional = {**_row(0.6), "judge": None, "weakest": None}
    assert Rule().pick([unconditional]) is unconditional, "no judge floors without classes"


def test_with_two_targets_the_widest_margin_over_both_floors_is_picked():
    rows = [_row(0.86, precision=0.851), _row(0.83, precision=0.87), _row(0.81, precision=0.90), _row(0.79, precision=0.95)]
    rule = Rule(min_recall=0.80)
    assert rule.pick(rows) is rows[0], "the highest recall puts precision on its floor"
    assert rule.pick_widest(rows) is rows[1] and rule.margin(rows[1]) == pytest.approx(0.02)
    assert not rule.passes(rows[3]), "under the recall floor"
    assert Rule(min_recall=0.9).pick_widest(rows) is None
    assert Rule(min_recall=0.9).pick_relaxing(rows, 0.9, widest=True)[0] is None
    assert rule.pick_relaxing([_row(0.83, precision=0.87, weakest=0.915)], 0.91, widest=True)[1].min_weakest_class == 0.91
    assert "widest margin" in rule.describe(widest=True) and "recall >= 0.8" in rule.describe()


def test_in_spread_every_floor_counts_each_gap_in_its_own_standard_error():
    thin_class = _row(0.86, precision=0.87, weakest=0.923)  # 0.02 over both, a third of a point over the class floor
    balanced = _row(0.84, precision=0.865, weakest=0.93)
    rule = Rule(min_recall=0.80)
    assert rule.pick_widest([thin_class, balanced]) is thin_class, "precision and recall alone"
    spread = {"precision": 0.01, "recall": 0.01, "judge": 0.002, "weakest": 0.01, "copies": 0.003}
    assert rule.margin(balanced, spread) == pytest.approx(1.0) and rule.margin(thin_class, spread) == pytest.approx(0.3)
    assert rule.pick_widest([thin_class, balanced], spread) is balanced
    assert rule.pick_relaxing([thin_class, balanced], 0.92, widest=True, spread=spread)[0] is balanced
    unconditional = {**balanced, "judge": None, "weakest": None}
    assert rule.margin(unconditional, {"precision": 0.01, "recall": 0.01, "copies": 0.003}) == pytest.approx(1.5)
    assert "every floor" in rule.describe(widest=True, in_spread=True)


def test_the_spread_is_pooled_over_settings_and_a_shift_moves_every_mean():
    rows = [{**_row(0.8), "recall_se": 0.01, "precision_se": 0.02, "copies_se": 0.001, "judge_se": None},
            {**_row(0.9), "recall_se": 0.03, "precision_se": 0.02, "copies_se": 0.003, "judge_se": None}]
    assert pooled_spread(rows) == pytest.approx({"recall": 0.02, "precision": 0.02, "copies": 0.002})
    moved = shifted(rows, {"recall": -0.05, "precision": 0.01})
    assert [r["recall"] for r in moved] == pytest.approx([0.75, 0.85]) and moved[0]["precision"] == pytest.approx(0.91)
    assert rows[0]["recall"] == 0.8, "the rows given are left as they were"
    assert shifted([{**rows[0], "judge": None}], {"judge": -0.01})[0]["judge"] is None
    with pytest.raises(QuickdrawError, match="unknown figure 'fid'"):
        shifted(rows, {"fid": 1.0})


def test_when_nothing_passes_the_weakest_class_floor_is_lowered_a_point_at_a_time():
    rows = [_row(0.70, weakest=0.905), _row(0.80, weakest=0.912), _row(0.9, weakest=0.95, precision=0.8)]
    picked, rule = Rule().pick_relaxing(rows, lowest_weakest_class=0.90)
    assert picked is rows[1] and rule.min_weakest_class == 0.91
    assert Rule().pick_relaxing(rows[:1], lowest_weakest_class=0.91) == (None, Rule(min_weakest_class=0.91))
    assert Rule().pick_relaxing([_row(0.6)], 0.9) == (Rule().pick([_row(0.6)]), Rule())


def test_means_over_seeds_carry_their_standard_error():
    (row,) = mean_rows([[_row(0.6)], [_row(0.8)]])
    assert row["recall"] == pytest.approx(0.7) and row["recall_se"] == pytest.approx(0.1)
    assert row["judge_se"] == 0


def test_the_frontier_figure_is_written(tmp_path):
    rows = [_row(0.6, 0.9, t=0.6), _row(0.7, 0.87, t=0.8), {**_row(0.75, 0.8), "setting": Setting(0.8, 1.25, 20, 1.0)}]
    frontier_figure(tmp_path / "f.png", rows, rows[1], {"precision": 0.89, "recall": 0.9}, Rule(), "t")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ceiling = [{**_row(0.88, 0.8), "setting": None, "codes": "training drawings' posterior means", "class_scale": 1.0,
                "sharpen": 5.0}]
    frontier_figure(tmp_path / "c.png", rows, None, {"precision": 0.89, "recall": 0.9}, Rule(min_recall=0.8), "t",
                    ceiling=ceiling, floor_label="real drawings (training vs training, N 800)")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_names_pass_through_the_means_over_seeds():
    (row,) = mean_rows([[{"setting": None, "codes": "c", "recall": 0.6}], [{"setting": None, "codes": "c", "recall": 0.8}]])
    assert row["codes"] == "c" and row["recall"] == pytest.approx(0.7)
