"""Stage `classify`: the judge's view of the samples (per-class accuracy and confidence)."""

import sys

from quickdraw_vae.errors import run_main, stage_name
from quickdraw_vae.files import write_json
from quickdraw_vae.judge import classify_samples, load_judge, predict_proba
from quickdraw_vae.params import SAMPLE_SETS, load_params
from quickdraw_vae.plots import labelled_samples
from quickdraw_vae.runtime import setup
from quickdraw_vae.sampling import load_samples
from quickdraw_vae.stage import stage_parser


def main(argv=None):
    ap = stage_parser(__doc__, data=False)
    args = ap.parse_args(argv)

    p = load_params(args.params)
    setup(p.train.threads, p.evaluate.seed)
    judge, classes = load_judge(args.out / "models" / "judge.pt")
    samples = {m: load_samples(args.out / "data" / "samples" / f"{m}.npz") for m in SAMPLE_SETS}
    write_json(args.out / "metrics" / "classifier_eval.json", classify_samples(judge, samples, classes))
    images, labels = samples["conditional"]
    proba = predict_proba(judge, images)
    labelled_samples(args.out / "plots" / "classifier_evaluation.png", images, labels, proba.argmax(1),
                     proba.max(1), classes)


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
