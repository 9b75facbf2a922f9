"""Stage `train_judge`: the sketch classifier (the `sketch` feature space, and the judge of samples),
trained on the training drawings and measured on the validation drawings."""

import sys

import torch

from quickdraw_vae.data import Pixels, load_split
from quickdraw_vae.files import write_json
from quickdraw_vae.judge import judge_report, save_judge, train_judge
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
    judge = train_judge(Pixels(train.images), torch.from_numpy(train.labels), len(classes),
                        p.judge.epochs, p.judge.batch_size, p.judge.lr, p.judge.seed, p.judge.width,
                        pick_device(p.runtime.device))
    report, _ = judge_report(judge, validation.images, validation.labels, classes)
    save_judge(args.out / "models" / "judge.pt", judge, classes)
    write_json(args.out / "metrics" / "judge.json", {"validation": report})


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
