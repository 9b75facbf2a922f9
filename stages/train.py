"""Stage `train`: fit the two unconditional VAEs (rnn_cnn, cnn_cnn), side by side when
`runtime.threads` allows (each model then gets its share of the threads); with `runtime.processes`
above 1, one after the other, each across that many processes under torchrun."""

import sys
from pathlib import Path

from quickdraw_vae import distributed
from quickdraw_vae.data import load_split
from quickdraw_vae.models import config_from_params
from quickdraw_vae.params import MODEL_NAMES, load_params
from quickdraw_vae.stage import run_main, stage_name, stage_parser
from quickdraw_vae.tracking import epoch_log_dir
from quickdraw_vae.training import perceptual_from_params, save_trained, train_models


def main(argv=None):
    ap = stage_parser(__doc__)
    ap.add_argument("--model", choices=MODEL_NAMES, action="append", help="only these (default: both)")
    ap.add_argument("--models", type=Path, default=Path("models"), help="where the perceptual classifier is")
    ap.add_argument("--resume-dir", type=Path, default=Path("data/resume"), help="per-epoch state (git-ignored)")
    args = ap.parse_args(argv)

    p = load_params(args.params)
    if (code := distributed.relaunch(__file__, argv, p.runtime.processes)) is not None:
        return code
    train, classes = load_split(args.data / "train")
    validation, _ = load_split(args.data / "validation")
    jobs = {name: (config_from_params(name, p.models[name]), p.training(name)) for name in args.model or MODEL_NAMES}
    trained = train_models(jobs, p.runtime, train, validation, classes,
                           {name: epoch_log_dir(args.out, name) for name in jobs}, args.resume_dir,
                           perceptual_from_params(p.perceptual, args.models / "perceptual.pt"))
    for t in trained:  # nothing is written before every model has trained
        save_trained(t, args.out / "models" / f"{t.name}.pt", args.out / "metrics" / "train" / f"{t.name}.json",
                     args.out / "timings" / f"{t.name}.json", args.resume_dir)
    distributed.stop()


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
