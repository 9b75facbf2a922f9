"""Stage `sample@<model>`: draw `sample.n` drawings from a trained model."""

import argparse
import sys
from pathlib import Path

from quickdraw_vae.errors import run_main, stage_name
from quickdraw_vae.params import ALL_MODELS, load_params
from quickdraw_vae.sampling import sample_and_save


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", choices=ALL_MODELS, required=True)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", type=Path, default=Path("data/prepared"))
    ap.add_argument("--out", type=Path, default=Path("."))
    args = ap.parse_args(argv)

    p = load_params(args.params)
    sample_and_save(args.out / "models" / f"{args.model}.pt", args.data / "train.npz", p.sample,
                    args.out / "data" / "samples" / f"{args.model}.npz",
                    args.out / "plots" / f"{args.model}_samples.png", p.train.threads)


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
