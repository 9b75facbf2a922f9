"""Stage `sample`: draw `sample.n` drawings from each trained model, and the figures that need the
models (reconstructions, interpolations). One process: PyTorch, scikit-learn and matplotlib are
imported once, not once per model or figure."""

import sys

from quickdraw_vae.data import load_split
from quickdraw_vae.model_figures import model_figures
from quickdraw_vae.params import ALL_MODELS, load_params
from quickdraw_vae.sampling import sample_models
from quickdraw_vae.stage import run_main, stage_name, stage_parser


def main(argv=None):
    ap = stage_parser(__doc__)
    ap.add_argument("--model", choices=ALL_MODELS, action="append", help="only these (default: all three)")
    args = ap.parse_args(argv)

    p = load_params(args.params)
    models = sample_models([args.out / "models" / f"{m}.pt" for m in args.model or ALL_MODELS],
                           args.data / "train.npz", p.sample, args.out / "data" / "samples", args.out / "plots",
                           p.runtime.threads)
    validation, classes = load_split(args.data / "validation.npz")
    model_figures(models, validation, classes, args.out / "plots")


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
