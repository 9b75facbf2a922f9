"""Stage `select_best`: name the unconditional model with the lower validation -ELBO."""

import argparse
import json
import sys
from pathlib import Path

from quickdraw_vae.errors import QuickdrawError
from quickdraw_vae.files import write_json
from quickdraw_vae.params import MODEL_NAMES
from quickdraw_vae.selection import pick_best
from quickdraw_vae.stage import run_main, stage_name


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reports", type=Path, default=Path("metrics/train"))
    ap.add_argument("--out", type=Path, default=Path("metrics/best.json"))
    args = ap.parse_args(argv)

    reports = {}
    for name in MODEL_NAMES:
        path = args.reports / f"{name}.json"
        try:
            reports[name] = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise QuickdrawError(f"{path}: cannot read training report ({e})") from None
    write_json(args.out, pick_best(reports))


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
