"""Stage `train_perceptual`: the second sketch classifier, whose features the training loss compares
(`perceptual.*`); trained on the training drawings like the judge, with its own seed and width. At
`perceptual.weight` 0 no classifier is trained, and the checkpoint says so."""

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
    setup(p.runtime.threads, p.perceptual.seed)
    train, classes = load_split(args.data / "train")
    net, report = None, {}
    if p.perceptual.weight > 0:
        validation, _ = load_split(args.data / "validation")
        net, report = train_and_measure(p.perceptual, train, validation, classes, pick_device(p.runtime.device))
    save_judge(args.out / "models" / "perceptual.pt", net, classes, kind="perceptual")
    write_json(args.out / "metrics" / "perceptual.json", {"weight": p.perceptual.weight, "validation": report})


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
