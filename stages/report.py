"""Stage `report`: metrics/metrics_summary.md, metrics/headline.json (the figures `dvc metrics show`
prints) and the figures drawn from metrics and per-epoch logs (plots/metrics_comparison.png, loss curves)."""

import argparse
import sys
from pathlib import Path

from quickdraw_vae.params import ALL_MODELS
from quickdraw_vae.plots import loss_figures
from quickdraw_vae.report import write_report
from quickdraw_vae.stage import run_main, stage_name
from quickdraw_vae.tracking import epoch_log_dir, read_history


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("."))
    args = ap.parse_args(argv)
    write_report(args.out / "metrics", args.out / "metrics" / "metrics_summary.md",
                 args.out / "plots" / "metrics_comparison.png", args.out / "metrics" / "headline.json")
    loss_figures({m: read_history(epoch_log_dir(args.out, m)) for m in ALL_MODELS}, args.out / "plots")


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
