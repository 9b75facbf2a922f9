"""Stage `train@<model>`: fit one unconditional VAE (rnn_cnn or cnn_cnn)."""

import sys
from pathlib import Path

from quickdraw_vae.errors import run_main, stage_name
from quickdraw_vae.models import config_from_params
from quickdraw_vae.params import MODEL_NAMES, load_params
from quickdraw_vae.stage import stage_parser
from quickdraw_vae.training import train_and_save


def main(argv=None):
    ap = stage_parser(__doc__)
    ap.add_argument("--model", choices=MODEL_NAMES, required=True)
    ap.add_argument("--resume-dir", type=Path, default=Path("data/resume"), help="per-epoch state (git-ignored)")
    args = ap.parse_args(argv)

    p = load_params(args.params)
    cfg = config_from_params(args.model, p.models[args.model])
    train_and_save(args.model, cfg, p.train, p.train.kl_warmup_epochs, args.data,
                   args.out / "models" / f"{args.model}.pt", args.out / "metrics" / "train" / f"{args.model}.json",
                   args.out / "plots" / "train" / f"{args.model}.tsv", args.out / "timings" / f"{args.model}.json",
                   args.resume_dir)


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
