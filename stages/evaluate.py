"""Stage `evaluate`: IS, FID and KID of every model's samples against real test drawings."""

import sys

from quickdraw_vae.data import load_split
from quickdraw_vae.errors import run_main, stage_name
from quickdraw_vae.files import write_json
from quickdraw_vae.metrics import evaluate_generation
from quickdraw_vae.params import SAMPLE_SETS, load_params
from quickdraw_vae.runtime import setup
from quickdraw_vae.stage import stage_parser


def main(argv=None):
    ap = stage_parser(__doc__)
    args = ap.parse_args(argv)

    p = load_params(args.params)
    setup(p.train.threads, p.evaluate.seed)
    test, _ = load_split(args.data / "test.npz")
    train, _ = load_split(args.data / "train.npz")
    samples = {m: args.out / "data" / "samples" / f"{m}.npz" for m in SAMPLE_SETS}
    result = evaluate_generation(samples, test.images, train.images, p.evaluate, args.out / "models" / "judge.pt")
    write_json(args.out / "metrics" / "generation.json", result)


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
