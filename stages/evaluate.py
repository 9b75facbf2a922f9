"""Stage `evaluate`: every model's samples against real test drawings: IS, FID and KID, and the
judge's view of them (per-class accuracy and confidence). One process for both: each would
otherwise spend seconds importing the same libraries and loading the same samples."""

import sys

from quickdraw_vae.data import load_split
from quickdraw_vae.errors import run_main, stage_name
from quickdraw_vae.files import write_json
from quickdraw_vae.judge import classify_samples, load_judge, predict_proba
from quickdraw_vae.metrics import evaluate_generation
from quickdraw_vae.params import SAMPLE_SETS, load_params
from quickdraw_vae.plots import labelled_samples
from quickdraw_vae.runtime import setup
from quickdraw_vae.sampling import load_samples
from quickdraw_vae.stage import stage_parser


def main(argv=None):
    ap = stage_parser(__doc__)
    args = ap.parse_args(argv)

    p = load_params(args.params)
    setup(p.train.threads, p.evaluate.seed)
    test, _ = load_split(args.data / "test.npz")
    train, _ = load_split(args.data / "train.npz")
    judge_path = args.out / "models" / "judge.pt"
    paths = {m: args.out / "data" / "samples" / f"{m}.npz" for m in SAMPLE_SETS}
    generation = evaluate_generation(paths, test.images, train.images, p.evaluate, judge_path)
    judge, classes = load_judge(judge_path)
    samples = {m: load_samples(path) for m, path in paths.items()}
    judged = classify_samples(judge, samples, classes)
    images, labels = samples["conditional"]
    proba = predict_proba(judge, images)

    write_json(args.out / "metrics" / "generation.json", generation)
    write_json(args.out / "metrics" / "classifier_eval.json", judged)
    labelled_samples(args.out / "plots" / "classifier_evaluation.png", images, labels, proba.argmax(1),
                     proba.max(1), classes)


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
