"""Stage `prepare`: draw the splits from `data.source`: train.npz (fitting), validation.npz (carved
from the training drawings; every choice is made on it) and test.npz (read only by the reporting
stage)."""

import argparse
import sys
from pathlib import Path

from quickdraw_vae.data import carve_validation, save_split
from quickdraw_vae.files import write_json
from quickdraw_vae.params import load_params
from quickdraw_vae.plots import data_preview
from quickdraw_vae.sources import load_splits
from quickdraw_vae.stage import run_main, stage_name


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", type=Path, default=Path("data/prepared"))
    ap.add_argument("--raw", type=Path, default=Path("data/raw"), help="download cache (kept between runs)")
    ap.add_argument("--metrics", type=Path, default=Path("metrics/data.json"))
    ap.add_argument("--preview", type=Path, default=Path("plots/data_preview.png"))
    args = ap.parse_args(argv)

    d = load_params(args.params).data
    train, test, provenance = load_splits(d.source, d.classes, d.train_per_class, d.test_per_class, d.seed, args.raw)
    fit, validation = carve_validation(train, d.validation_fraction, d.seed)
    splits = {"train": fit, "validation": validation, "test": test}
    for name, split in splits.items():
        save_split(args.out / f"{name}.npz", split, d.classes)
    counts = {name: {c: int((s.labels == i).sum()) for i, c in enumerate(d.classes)} for name, s in splits.items()}
    write_json(args.metrics, {"source": d.source, **provenance, "count": counts,
                              "total": {name: len(s.labels) for name, s in splits.items()}})
    data_preview(args.preview, fit.images, fit.labels, d.classes)


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
