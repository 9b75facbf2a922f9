"""The sampler's precision-recall frontier on validation, and the rule that picks a setting from it.

A sampler setting (temperature, class scale, mixture size, pixel mapping) retrains nothing: each is
scored on the validation drawings, over several trained seeds, by
- precision and recall in the sketch judge's feature space (Kynkaanniemi et al. 2019, k = 3): the share
  of samples among the real drawings, and of real drawings among the samples;
- the judge's accuracy on conditional samples, overall and its weakest class;
- the copy share (closer to a training drawing than 95% of the validation drawings are).
The rule (`Rule`) asks for fidelity and class fidelity as floors and then maximises variety: the highest
recall among the settings whose means over seeds clear every floor, or the widest margin over the floors
(`Rule.pick_widest`; with a spread, every floor's gap in its own standard error), on means that may be
`shifted` to where a previous pick read on test. Test drawings are never read here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .errors import QuickdrawError


@dataclass(frozen=True)
class Setting:
    temperature: float
    class_scale: float
    components: int
    sharpen: float | None = None  # sigmoid(k x logits), 1 the mean pixel; None: the run's own sample.* mapping

    @classmethod
    def parse(cls, text: str) -> "Setting":
        """`T:class_scale:components[:sharpen]`, e.g. `0.9:1.0:20:6`."""
        parts = text.split(":")
        try:
            if len(parts) not in (3, 4):
                raise ValueError
            setting = cls(float(parts[0]), float(parts[1]), int(parts[2]), float(parts[3]) if len(parts) == 4 else None)
        except ValueError:
            raise QuickdrawError(f"sampler setting {text!r}: expected temperature:class_scale:components[:sharpen]") from None
        if not (setting.temperature > 0 and setting.class_scale >= 0 and setting.components >= 1
                and (setting.sharpen is None or setting.sharpen > 0)):
            raise QuickdrawError(f"sampler setting {text!r}: temperature and sharpen > 0, class scale >= 0, components >= 1")
        return setting

    def label(self) -> str:
        pixels = "the run's pixels" if self.sharpen is None else "mean" if self.sharpen == 1 else f"k {self.sharpen:g}"
        return f"T {self.temperature:g}, x{self.class_scale:g}, {self.components} comp., {pixels}"


@dataclass(frozen=True)
class Rule:
    """Floors on the means over seeds; among the settings that clear them, the highest mean recall
    (`pick`), or the widest margin over both the precision and the recall floor (`pick_widest`)."""

    min_precision: float = 0.85
    min_judge: float = 0.95
    min_weakest_class: float = 0.92
    max_copies: float = 0.075
    min_recall: float = 0.0

    def passes(self, row: dict) -> bool:
        judged = row.get("judge") is None or (row["judge"] >= self.min_judge and row["weakest"] >= self.min_weakest_class)
        return (row["precision"] >= self.min_precision and row["recall"] >= self.min_recall
                and row["copies"] <= self.max_copies and judged)

    def pick(self, rows: list[dict]) -> dict | None:
        """The passing row of highest recall (the first on a tie), or None when none passes."""
        passing = [r for r in rows if self.passes(r)]
        return max(passing, key=lambda r: r["recall"]) if passing else None

    def margin(self, row: dict, spread: dict[str, float] | None = None) -> float:
        """How far the row clears the nearer of its precision and recall floors; with `spread` (figure -> its
        standard error over seeds), how far it clears the nearest of every floor, each gap in its figure's spread."""
        gaps = {"precision": row["precision"] - self.min_precision, "recall": row["recall"] - self.min_recall}
        if spread is None:
            return min(gaps.values())
        gaps["copies"] = self.max_copies - row["copies"]
        if row.get("judge") is not None:
            gaps |= {"judge": row["judge"] - self.min_judge, "weakest": row["weakest"] - self.min_weakest_class}
        return min(gap / spread[key] for key, gap in gaps.items())

    def pick_widest(self, rows: list[dict], spread: dict[str, float] | None = None) -> dict | None:
        """The passing row whose precision and recall both clear their floors by the most: with two targets,
        the highest recall would put precision on its floor, where half the seeds' spread falls under it. With
        `spread`, every floor counts, each in its own spread: a weakest class a point over its floor is no wider
        a margin than a precision 0.01 over its own when the seeds move the one as much as the other."""
        passing = [r for r in rows if self.passes(r)]
        return max(passing, key=lambda r: self.margin(r, spread)) if passing else None

    def pick_relaxing(self, rows: list[dict], lowest_weakest_class: float, step: float = 0.01,
                      widest: bool = False, spread: dict[str, float] | None = None) -> tuple[dict | None, "Rule"]:
        """`pick` (`pick_widest`), and when nothing passes, the same with the weakest-class floor a `step` lower at
        a time, down to `lowest_weakest_class`; returns the pick (or None) and the rule that made it."""
        rule = self
        while ((picked := rule.pick_widest(rows, spread) if widest else rule.pick(rows)) is None
               and rule.min_weakest_class - step >= lowest_weakest_class - 1e-9):
            rule = replace(rule, min_weakest_class=round(rule.min_weakest_class - step, 6))
        return picked, rule

    def describe(self, widest: bool = False, in_spread: bool = False) -> str:
        floors = (f"precision >= {self.min_precision:g}" + (f", recall >= {self.min_recall:g}" if self.min_recall else "")
                  + f", judge accuracy >= {self.min_judge:.0%}, every class >= {self.min_weakest_class:.0%} and a copy "
                  f"share <= {self.max_copies:.1%}")
        goal = ("the widest margin over every floor, each gap in its figure's standard error pooled over the settings"
                if widest and in_spread else "the widest margin over the precision and recall floors" if widest
                else "the highest recall")
        return f"{goal} with {floors} (means over seeds, validation drawings)"


SPREAD_FIGURES = ("precision", "recall", "judge", "weakest", "copies")


def pooled_spread(rows: list[dict]) -> dict[str, float]:
    """Each figure's standard error over seeds, averaged over the settings (one setting's own, from a few
    seeds, is too rough to divide by); figures no row has (the judge's, unconditional) left out."""
    return {key: float(np.mean([r[f"{key}_se"] for r in rows])) for key in SPREAD_FIGURES
            if all(r.get(f"{key}_se") is not None for r in rows)}


def shifted(rows: list[dict], shift: dict[str, float]) -> list[dict]:
    """The rows with `shift` (figure -> amount) added to those figures' means: where a seed set's means are
    moved to where a previous pick's test figures fell (its test mean on reported seeds less its mean here)."""
    unknown = set(shift) - set(SPREAD_FIGURES)
    if unknown:
        raise QuickdrawError(f"shift: unknown figure {sorted(unknown)[0]!r} (one of {', '.join(SPREAD_FIGURES)})")
    return [{**r, **{key: r[key] + amount for key, amount in shift.items() if r.get(key) is not None}} for r in rows]


def mean_rows(per_seed: list[list[dict]]) -> list[dict]:
    """Per setting, the mean and standard error over seeds of every figure (`<key>_se`)."""
    out = []
    for rows in zip(*per_seed):
        merged = {"setting": rows[0]["setting"]}
        for key, value in rows[0].items():
            if key == "setting":
                continue
            if value is None or isinstance(value, str):  # absent figures, and names
                merged[key] = value
                continue
            values = np.array([r[key] for r in rows], float)
            merged[key] = float(values.mean())
            merged[f"{key}_se"] = float(values.std(ddof=1) / len(values) ** 0.5) if len(values) > 1 else float("nan")
        out.append(merged)
    return out


def frontier_figure(path, rows: list[dict], picked: dict | None, floor: dict | None, rule: Rule, title: str,
                    marked: dict[str, dict] | None = None, ceiling: list[dict] | None = None,
                    floor_label: str = "real drawings (training vs validation)") -> None:
    """Precision against recall: one line per class scale, mixture size and pixel mapping through its
    temperatures (labelled); filled points clear the rule's floors other than precision and recall (judge,
    weakest class, copies), hollow ones do not; the precision (and recall) floor dashed, the rule's pick
    circled, `marked` rows (label -> row) as squares, real drawings (`floor_label`) as a star, `ceiling` rows
    (the training drawings' own codes, decoded: `codes`, `class_scale`, `sharpen`) as diamonds."""
    from .files import save_figure
    from .plots import plt

    fig, ax = plt.subplots(figsize=(12, 6.5))
    series: dict[tuple, list[dict]] = {}
    for r in rows:
        s = r["setting"]
        series.setdefault((s.class_scale, s.components, s.sharpen), []).append(r)
    others = replace(rule, min_precision=0.0, min_recall=0.0)
    for (scale, components, sharpen), members in series.items():
        members = sorted(members, key=lambda r: r["setting"].temperature)
        pixels = "the run's pixels" if sharpen is None else "mean pixels" if sharpen == 1 else f"sharpened k {sharpen:g}"
        line, = ax.plot([r["recall"] for r in members], [r["precision"] for r in members], linewidth=1,
                        label=f"class scale {scale:g}, {components} components, {pixels}")
        for r in members:
            ax.plot([r["recall"]], [r["precision"]], marker="o", markersize=5, color=line.get_color(),
                    fillstyle="full" if others.passes(r) else "none", linestyle="")
            ax.annotate(f"{r['setting'].temperature:g}", (r["recall"], r["precision"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    if floor:
        ax.plot([floor["recall"]], [floor["precision"]], marker="*", markersize=14, color="black", linestyle="",
                label=floor_label)
    ax.axhline(rule.min_precision, color="grey", linestyle="--", linewidth=1, label=f"precision floor {rule.min_precision:g}")
    if rule.min_recall:
        ax.axvline(rule.min_recall, color="grey", linestyle=":", linewidth=1, label=f"recall floor {rule.min_recall:g}")
    for label, r in (marked or {}).items():
        ax.plot([r["recall"]], [r["precision"]], marker="s", markersize=12, fillstyle="none", color="black",
                linestyle="", label=f"{label}: {r['setting'].label()}")
    for r in ceiling or ():
        ax.plot([r["recall"]], [r["precision"]], marker="D", markersize=7, linestyle="",
                fillstyle="full" if others.passes(r) else "none",
                label=f"{r['codes']}, class scale {r['class_scale']:g}, k {r['sharpen']:g} (no sampler)")
    if picked:
        ax.plot([picked["recall"]], [picked["precision"]], marker="o", markersize=15, fillstyle="none", color="red",
                linestyle="", label=f"the rule's pick: {picked['setting'].label()}")
    ax.set(xlabel="recall (variety: real drawings the samples cover)",
           ylabel="precision (fidelity: samples among real drawings)",
           title=f"{title}\nfilled: judge >= {rule.min_judge:.0%}, every class >= {rule.min_weakest_class:.0%}, "
                 f"copies <= {rule.max_copies:.1%}; hollow: not")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)
