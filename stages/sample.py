"""Stage `sample`: draw `sample.n` drawings from each trained model (one process: PyTorch,
scikit-learn and matplotlib are imported once, not three times)."""

import sys

from quickdraw_vae.errors import run_main, stage_name
from quickdraw_vae.models import load_checkpoint
from quickdraw_vae.params import ALL_MODELS, load_params
from quickdraw_vae.sampling import sample_and_save
from quickdraw_vae.stage import stage_parser


def main(argv=None):
    ap = stage_parser(__doc__)
    ap.add_argument("--model", choices=ALL_MODELS, action="append", help="only these (default: all three)")
    args = ap.parse_args(argv)

    p = load_params(args.params)
    models = args.model or ALL_MODELS
    for model in models:  # every checkpoint checked before any samples are written
        load_checkpoint(args.out / "models" / f"{model}.pt")
    for model in models:
        sample_and_save(args.out / "models" / f"{model}.pt", args.data / "train.npz", p.sample,
                        args.out / "data" / "samples" / f"{model}.npz",
                        args.out / "plots" / f"{model}_samples.png", p.train.threads)


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
