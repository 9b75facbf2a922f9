"""Stage `train_conditional`: the winning architecture, conditioned on the class (across
`runtime.processes` processes under torchrun when above 1)."""

import json
import sys
from pathlib import Path

from quickdraw_vae import distributed
from quickdraw_vae.data import load_split
from quickdraw_vae.errors import QuickdrawError
from quickdraw_vae.models import config_from_params
from quickdraw_vae.params import load_params
from quickdraw_vae.stage import run_main, stage_name, stage_parser
from quickdraw_vae.tracking import epoch_log_dir
from quickdraw_vae.training import load_warm_start, perceptual_from_params, save_trained, train_model


def main(argv=None):
    ap = stage_parser(__doc__)
    ap.add_argument("--best", type=Path, default=Path("metrics/best.json"))
    ap.add_argument("--models", type=Path, default=Path("models"),
                    help="where the unconditional checkpoints and the perceptual classifier are")
    ap.add_argument("--resume-dir", type=Path, default=Path("data/resume"), help="per-epoch state (git-ignored)")
    args = ap.parse_args(argv)

    p = load_params(args.params)
    if (code := distributed.relaunch(__file__, argv, p.runtime.processes)) is not None:
        return code
    try:
        winner = json.loads(args.best.read_text())["best"]
    except (OSError, ValueError, KeyError) as e:
        raise QuickdrawError(f"{args.best}: cannot read the selected model ({type(e).__name__}); run select_best") from None
    cfg = config_from_params(winner, p.models[winner], len(p.data.classes))
    init_from = load_warm_start(args.models / f"{winner}.pt", cfg) if p.conditional.init == "best" else None
    train, classes = load_split(args.data / "train")
    validation, _ = load_split(args.data / "validation")
    trained = train_model("conditional", cfg, p.training("conditional"), p.runtime, train, validation, classes,
                          epoch_log_dir(args.out, "conditional"), args.resume_dir, init_from,
                          p.conditional.embedding_init, perceptual_from_params(p.perceptual, args.models / "perceptual.pt"))
    if trained is not None:  # process 0's, under torchrun
        save_trained(trained, args.out / "models" / "conditional.pt",
                     args.out / "metrics" / "train" / "conditional.json", args.out / "timings" / "conditional.json",
                     args.resume_dir)
    distributed.stop()


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
