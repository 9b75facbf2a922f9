"""Stage `figures`: reconstructions, interpolations and loss curves of the three models."""

import sys

from quickdraw_vae.errors import run_main, stage_name
from quickdraw_vae.figures import make_figures
from quickdraw_vae.params import ALL_MODELS, load_params
from quickdraw_vae.runtime import setup
from quickdraw_vae.stage import stage_parser


def main(argv=None):
    ap = stage_parser(__doc__)
    args = ap.parse_args(argv)

    p = load_params(args.params)
    setup(p.train.threads, p.sample.seed)
    make_figures({m: args.out / "models" / f"{m}.pt" for m in ALL_MODELS}, args.data / "test.npz",
                 args.out / "plots" / "train", args.out / "plots")


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
