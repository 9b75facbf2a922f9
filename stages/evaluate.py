"""Stage `evaluate`, the one stage that reads the test drawings, and only reports: every model's test
likelihood (-ELBO, importance-weighted bound); its samples' IS/FID/KID/precision/recall against the test
drawings (and the study's IS and FID definitions); the judge on the real test drawings, on each model's
reconstructions of them, and on the samples; the classification accuracy score of the conditional samples."""

import sys

import torch

from quickdraw_vae.data import Pixels, bounded, load_split
from quickdraw_vae.files import write_json
from quickdraw_vae.judge import classify_samples, judge_report, load_judge, predict_proba
from quickdraw_vae.losses import likelihood
from quickdraw_vae.metrics import (
    classification_accuracy_score,
    copy_check,
    evaluate_generation,
    nearest_distances,
    per_class_quality,
    reconstructions_recognised,
)
from quickdraw_vae.models import load_checkpoint
from quickdraw_vae.params import ALL_MODELS, SAMPLE_SETS, load_params
from quickdraw_vae.plots import confusion, labelled_samples, nearest_neighbours
from quickdraw_vae.runtime import setup
from quickdraw_vae.sampling import load_samples, pixel_mapping
from quickdraw_vae.stage import run_main, stage_name, stage_parser


def main(argv=None):
    ap = stage_parser(__doc__)
    args = ap.parse_args(argv)

    p = load_params(args.params)
    setup(p.runtime.threads, p.evaluate.seed)
    models = {m: load_checkpoint(args.out / "models" / f"{m}.pt")[0] for m in ALL_MODELS}
    judge_path = args.out / "models" / "judge.pt"
    judge, classes = load_judge(judge_path)
    samples = {m: load_samples(args.out / "data" / "samples" / f"{m}.npz") for m in SAMPLE_SETS}
    ev = p.evaluate
    test = bounded(load_split(args.data / "test")[0], ev.max_held_out, ev.seed)
    train = bounded(load_split(args.data / "train")[0], ev.max_reference, ev.seed)

    x, y = Pixels(test.images), torch.from_numpy(test.labels)
    scored = {m: likelihood(model, x, y if model.cfg.conditional else None, ev.iwae_k, ev.iwae_chunk, ev.seed)
              for m, model in models.items()}
    pixels = pixel_mapping(p.sample)
    real, matrix = judge_report(judge, test.images, test.labels, classes)
    recognised = reconstructions_recognised(judge, models, test.images, test.labels, classes, pixels)
    generation = evaluate_generation({m: images for m, (images, _) in samples.items()}, test.images, train.images,
                                     ev, judge_path, where="data/prepared/test", study=True)
    judged = classify_samples(judge, samples, classes)
    models_samples = {m: samples[m][0] for m in ALL_MODELS}
    generation["copies"] = copy_check(models_samples, train.images, test.images)
    images, labels = samples["conditional"]
    generation["conditional_per_class"] = per_class_quality(images, labels, test.images, test.labels, classes,
                                                            judge_path, ev)
    cas = classification_accuracy_score(images, labels, train, test, classes, p.judge, ev.seed)

    write_json(args.out / "metrics" / "likelihood.json", scored)
    write_json(args.out / "metrics" / "generation.json", generation)
    write_json(args.out / "metrics" / "classifier_eval.json",
               {"samples": judged, "real_test": real, "reconstructions": recognised, "accuracy_score": cas})
    confusion(args.out / "plots" / "judge_confusion.png", matrix, classes,
              f"Sketch judge on real test drawings (accuracy {real['accuracy']:.1%})")
    shown = {m: s[:12] for m, s in models_samples.items()}
    nearest_neighbours(args.out / "plots" / "nearest_neighbours.png", shown,
                       {m: train.images[nearest_distances(s, train.images)[1]] for m, s in shown.items()})
    proba = predict_proba(judge, images)
    labelled_samples(args.out / "plots" / "classifier_evaluation.png", images, labels, proba.argmax(1),
                     proba.max(1), classes)


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
