"""Stage `train`: fit the two unconditional VAEs (rnn_cnn, cnn_cnn), side by side when
`runtime.threads` allows (each model then gets its share of the threads)."""

import sys
from pathlib import Path

from quickdraw_vae.models import config_from_params
from quickdraw_vae.params import MODEL_NAMES, load_params
from quickdraw_vae.stage import run_main, stage_name, stage_parser
from quickdraw_vae.training import train_side_by_side


def main(argv=None):
    ap = stage_parser(__doc__)
    ap.add_argument("--model", choices=MODEL_NAMES, action="append", help="only these (default: both)")
    ap.add_argument("--resume-dir", type=Path, default=Path("data/resume"), help="per-epoch state (git-ignored)")
    args = ap.parse_args(argv)

    p = load_params(args.params)
    jobs = {name: config_from_params(name, p.models[name]) for name in args.model or MODEL_NAMES}
    train_side_by_side(jobs, p.train, p.runtime, args.data, args.out, args.resume_dir)


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
