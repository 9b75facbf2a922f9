"""Stage `report`: metrics/metrics_summary.md and plots/metrics_comparison.png."""

import argparse
import sys
from pathlib import Path

from quickdraw_vae.errors import run_main, stage_name
from quickdraw_vae.report import write_report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("."))
    args = ap.parse_args(argv)
    write_report(args.out / "metrics", args.out / "metrics" / "metrics_summary.md",
                 args.out / "plots" / "metrics_comparison.png")


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
