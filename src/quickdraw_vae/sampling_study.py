"""How the latent strategy and pixel mapping change what the judge sees (README's sampling table).

    python -m quickdraw_vae.sampling_study   # after the pipeline ran: uses models/ and data/prepared/

For the conditional model, draws N samples per setting and reports the judge's accuracy on them
and their sketch FID against the real test drawings (same N).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from .data import load_split
from .judge import classify_samples, load_judge
from .metrics import SKETCH, fidelity, subsample
from .models import load_checkpoint
from .sampling import Sampler, balanced_labels, generate, load_sampler, sampler_path

SETTINGS = [("prior", 1.0, "mean"), ("prior", 1.0, "sharpened"), ("temperature", 0.8, "sharpened"),
            ("gmm", 1.0, "mean"), ("gmm", 0.8, "mean"), ("gmm", 0.8, "sharpened"), ("gmm", 0.8, "bernoulli")]


def main(argv=None) -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="models/conditional.pt")
    ap.add_argument("--n", type=int, default=800)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model, payload = load_checkpoint(args.model)
    fitted = load_sampler(sampler_path(args.model))
    judge, classes = load_judge("models/judge.pt")
    test, _ = load_split("data/prepared/test.npz")
    real = subsample(test.images, args.n, 0, "data/prepared/test.npz")
    labels = balanced_labels(args.n, len(classes))
    for strategy, temperature, pixels in SETTINGS:
        sampler = replace(fitted, strategy=strategy, temperature=temperature, pixels=pixels)
        images = generate(model, sampler, len(labels), labels, seed=0)
        judged = classify_samples(judge, {"m": (images, labels.numpy())}, classes)["m"]
        fid = fidelity(images, real, SKETCH, "models/judge.pt", 200, 0)["fid"]
        print(json.dumps({"strategy": strategy, "temperature": temperature, "pixels": pixels,
                          "judge_accuracy": judged["accuracy"], "min_class_accuracy": judged["min_class_accuracy"],
                          "sketch_fid": round(fid, 2)}))


if __name__ == "__main__":
    from .errors import run_main

    raise SystemExit(run_main(main))
