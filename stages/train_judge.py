"""Stage `train_judge`: the sketch classifier (the `sketch` feature space, and the judge of samples),
trained on the training drawings and measured on the validation drawings."""

import sys

from quickdraw_vae.data import load_split
from quickdraw_vae.files import write_json
from quickdraw_vae.judge import save_judge, train_and_measure
from quickdraw_vae.params import load_params
from quickdraw_vae.runtime import pick_device, setup
from quickdraw_vae.stage import run_main, stage_name, stage_parser


def main(argv=None):
    ap = stage_parser(__doc__)
    args = ap.parse_args(argv)

    p = load_params(args.params)
    setup(p.runtime.threads, p.judge.seed)
    train, classes = load_split(args.data / "train")
    validation, _ = load_split(args.data / "validation")
    judge, report = train_and_measure(p.judge, train, validation, classes, pick_device(p.runtime.device))
    save_judge(args.out / "models" / "judge.pt", judge, classes)
    write_json(args.out / "metrics" / "judge.json", {"validation": report})


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
