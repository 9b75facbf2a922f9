"""Stage `sample`: draw `sample.n` drawings from each trained model (and a plain-prior baseline), store
each model's fitted sampler beside it, and the figures that need the models (reconstructions,
interpolations). One process: PyTorch, scikit-learn and matplotlib are imported once."""

import sys

from quickdraw_vae.data import load_split
from quickdraw_vae.files import save_npz
from quickdraw_vae.model_figures import model_figures
from quickdraw_vae.models import load_checkpoint
from quickdraw_vae.params import ALL_MODELS, load_params
from quickdraw_vae.plots import image_rows
from quickdraw_vae.runtime import seed_everything, setup
from quickdraw_vae.sampling import baseline_path, sample_model, sampler_path, save_sampler
from quickdraw_vae.stage import run_main, stage_name, stage_parser


def main(argv=None):
    ap = stage_parser(__doc__)
    ap.add_argument("--model", choices=ALL_MODELS, action="append", help="only these (default: all three)")
    args = ap.parse_args(argv)

    p = load_params(args.params)
    setup(p.runtime.threads, p.sample.seed)
    paths = {m: args.out / "models" / f"{m}.pt" for m in args.model or ALL_MODELS}
    models = {m: load_checkpoint(path)[0] for m, path in paths.items()}  # every one before anything is written
    train, classes = load_split(args.data / "train")
    for name, model in models.items():
        seed_everything(p.sample.seed)  # each model's samples as if it were sampled alone
        drawn = sample_model(model, name, train, classes, p.sampling(name))
        samples = args.out / "data" / "samples" / f"{name}.npz"
        save_npz(samples, **drawn.arrays)
        save_npz(baseline_path(samples), **drawn.baseline)
        save_sampler(sampler_path(paths[name]), drawn.sampler)
        image_rows(args.out / "plots" / f"{name}_samples.png", drawn.rows, drawn.row_labels, drawn.title)
    validation, _ = load_split(args.data / "validation")
    model_figures(models, validation, classes, args.out / "plots")


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
