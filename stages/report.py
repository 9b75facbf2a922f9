"""Stage `report`: metrics/metrics_summary.md, metrics/headline.json (the figures `dvc metrics show`
prints) and the figures drawn from metrics and per-epoch logs (plots/metrics_comparison.png, loss curves)."""

import argparse
import sys
from pathlib import Path

from quickdraw_vae.files import write_json, write_text
from quickdraw_vae.params import ALL_MODELS
from quickdraw_vae.plots import loss_figures
from quickdraw_vae.report import headline, quality_figure, read_metrics, summary
from quickdraw_vae.stage import run_main, stage_name
from quickdraw_vae.tracking import epoch_log_dir, read_history


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("."))
    args = ap.parse_args(argv)
    metrics = read_metrics(args.out / "metrics")
    text, table = summary(metrics)
    write_json(args.out / "metrics" / "headline.json", headline(metrics))
    write_text(args.out / "metrics" / "metrics_summary.md", text)
    quality_figure(args.out / "plots" / "metrics_comparison.png", table)
    loss_figures({m: read_history(epoch_log_dir(args.out, m)) for m in ALL_MODELS}, args.out / "plots")


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
