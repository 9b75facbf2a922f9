"""Stage `prepare`: draw the splits from `data.source`, one class at a time, into data/prepared/:
train/ (fitting), validation/ (carved from the training drawings; every choice is made on it) and
test/ (read only by the reporting stage), each a folder of memory-mappable .npy files."""

import argparse
import sys
from pathlib import Path

from quickdraw_vae.data import load_split, write_prepared
from quickdraw_vae.files import write_json
from quickdraw_vae.params import load_params
from quickdraw_vae.plots import data_preview
from quickdraw_vae.sources import class_drawings
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
    provenance = {}
    per_class = class_drawings(d.source, d.classes, d.train_per_class, d.test_per_class, d.seed, args.raw, provenance)
    labels = write_prepared(args.out, per_class, d.classes, d.train_per_class, d.test_per_class,
                            d.validation_fraction, d.seed)
    counts = {name: {c: int((split_labels == i).sum()) for i, c in enumerate(d.classes)}
              for name, split_labels in labels.items()}
    write_json(args.metrics, {"source": d.source, **provenance, "count": counts,
                              "total": {name: len(split_labels) for name, split_labels in labels.items()}})
    fit, _ = load_split(args.out / "train")
    data_preview(args.preview, fit.images, fit.labels, d.classes)


if __name__ == "__main__":
    sys.exit(run_main(main, timing_name=stage_name(__file__)))
