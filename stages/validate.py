"""Stage `validate`: every model's samples against the validation drawings (sketch IS, FID, KID; the
judge's per-class view of the conditional samples; the copy check, held-out drawings = validation) and
the judge on each model's reconstructions of them. The figures every sampling choice is made on; test
drawings are never read here."""

import sys

from quickdraw_vae.data import bounded, load_split
from quickdraw_vae.files import write_json
from quickdraw_vae.judge import classify_samples, load_judge
from quickdraw_vae.metrics import copy_check, evaluate_generation, reconstructions_recognised
from quickdraw_vae.models import load_checkpoint
from quickdraw_vae.params import ALL_MODELS, load_params
from quickdraw_vae.runtime import setup
from quickdraw_vae.sampling import load_samples, pixel_mapping
from quickdraw_vae.stage import run_main, stage_name, stage_parser


def main(argv=None):
    ap = stage_parser(__doc__)
    args = ap.parse_args(argv)

    p = load_params(args.params)
    setup(p.runtime.threads, p.evaluate.seed)
    ev = p.evaluate
    validation = bounded(load_split(args.data / "validation")[0], ev.max_held_out, ev.seed)
    train = bounded(load_split(args.data / "train")[0], ev.max_reference, ev.seed)
    judge_path = args.out / "models" / "judge.pt"
    judge, classes = load_judge(judge_path)
    samples = {m: load_samples(args.out / "data" / "samples" / f"{m}.npz") for m in ALL_MODELS}
    images = {m: drawn for m, (drawn, _) in samples.items()}
    n = min(p.evaluate.n, len(validation.images))
    generation = evaluate_generation(images, validation.images, train.images, p.evaluate, judge_path, n,
                                     "data/prepared/validation")
    generation["copies"] = copy_check(images, train.images, validation.images)
    models = {m: load_checkpoint(args.out / "models" / f"{m}.pt")[0] for m in ALL_MODELS}
    pixels = pixel_mapping(p.sample)
    recognised = reconstructions_recognised(judge, models, validation.images, validation.labels, classes, pixels)
    write_json(args.out / "metrics" / "validation.json", {"generation": generation, "reconstructions": recognised,
                                                          "judge": classify_samples(judge, samples, classes)})


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
