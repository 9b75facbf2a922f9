"""Inception Score, FID, KID, precision and recall through torch-fidelity, in two feature spaces.

- `sketch`: our judge, registered as a torch-fidelity feature extractor (penultimate features for
  FID, KID and precision/recall, logits for IS). The metric code stays torch-fidelity's.
- `inception`: the standard InceptionV3 FID weights torch-fidelity uses, downloaded with their hash
  checked or from a local file (`evaluate.inception_weights`), loaded without unpickling
  (`inception.py`). Photographs, not drawings, taught it: kept so figures compare with the study's.

Precision and recall are Kynkaanniemi et al. (2019), k = 3: the share of samples inside the real
drawings' feature manifold (fidelity), and of real drawings inside the samples' (diversity).
The study's own definitions sit beside ours, to explain its figures: its "Inception Score" is the
softmax over a network's pooled features (not its class logits), and its FID compares 500 samples
with 500 test drawings (`study_is`, `fid_500`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch_fidelity
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from .errors import QuickdrawError

SKETCH = "quickdraw-sketch-judge"
STUDY_FID_N = 500  # the study's FID: 500 samples against 500 test drawings
# The layer the study's IS takes its softmax over, per extractor: the pooled features (InceptionV3's 2048).
POOLED = {SKETCH: "features", "quickdraw-inception-v3-verified": "2048"}


class Drawings(Dataset):
    """uint8 (N, 28, 28) drawings as torch-fidelity wants them: bare uint8 tensors, 3 x H x W."""

    def __init__(self, images: np.ndarray):
        self.images = torch.from_numpy(np.array(images, dtype=np.uint8))  # a copy: `images` may be a read-only map

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i].unsqueeze(0).expand(3, -1, -1).contiguous()


class SketchJudgeExtractor(FeatureExtractorBase):
    """The judge as a torch-fidelity feature extractor; its checkpoint comes in as the weights path."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        from .judge import load_judge

        self.judge, _ = load_judge(feature_extractor_weights_path)

    @staticmethod
    def get_provided_features_list():
        return ("features", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "features", "kid": "features", "prc": "features"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 28, 28, dtype=torch.uint8)

    def forward(self, x):
        x = x[:, :1].float() / 255  # the three channels are copies of one
        features = self.judge.features(x)
        out = {"features": features, "logits": self.judge.classify(features)}
        return tuple(out[name] for name in self.features_list)


if SKETCH not in torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(SKETCH, SketchJudgeExtractor)


def _calculate(extractor: str, weights: str | None, seed: int, **metrics) -> dict:
    return torch_fidelity.calculate_metrics(
        feature_extractor=extractor, feature_extractor_weights_path=weights, rng_seed=seed, batch_size=256,
        cuda=torch.cuda.is_available(), cache=False, verbose=False, save_cpu_ram=True, **metrics)


def fidelity(generated: np.ndarray, real: np.ndarray, extractor: str, weights: str | None,
             kid_subset_size: int, seed: int, isc_splits: int = 10) -> dict[str, float]:
    """IS of `generated`; FID, KID, precision and recall of `generated` against `real`, in one feature space.

    `extractor` is a torch-fidelity registry name (SKETCH, inception.INCEPTION, or one a caller registered).
    """
    subset = min(kid_subset_size, len(generated), len(real))
    result = _calculate(extractor, weights, seed, input1=Drawings(generated), input2=Drawings(real), isc=True,
                        fid=True, kid=True, prc=True, kid_subset_size=subset, isc_splits=isc_splits)
    return {
        "is": float(result["inception_score_mean"]), "is_std": float(result["inception_score_std"]),
        "fid": float(result["frechet_inception_distance"]),
        "kid": float(result["kernel_inception_distance_mean"]), "kid_std": float(result["kernel_inception_distance_std"]),
        "precision": float(result["precision"]), "recall": float(result["recall"]),
    }


def precision_recall(generated: np.ndarray, real: np.ndarray, judge_path: str | Path, seed: int,
                     most_subsets: int = 4) -> dict[str, float]:
    """Sketch precision and recall of `generated` against all of `real`, averaged over up to `most_subsets`
    disjoint seeded subsets of `generated` of `len(real)` drawings each: both figures depend on N, so each
    subset matches the real side's N, and the average damps the samples' share of the noise."""
    n = len(real)
    if len(generated) < n:
        raise QuickdrawError(f"precision and recall: {len(generated)} samples, need at least {n} (as many as the real drawings)")
    order = np.random.default_rng(seed).permutation(len(generated))
    scores = [_calculate(SKETCH, str(judge_path), seed, input1=Drawings(generated[np.sort(order[i * n : (i + 1) * n])]),
                         input2=Drawings(real), prc=True)
              for i in range(min(most_subsets, len(generated) // n))]
    return {k: float(np.mean([s[k] for s in scores])) for k in ("precision", "recall")}


def precision_recall_carried(generated: np.ndarray, held_out: dict[str, float], held_out_n: int, seen: np.ndarray,
                             n: int, judge_path: str | Path, seed: int) -> dict[str, float]:
    """Precision and recall at `n` real drawings where the held-out ones are fewer (`held_out`: the figures
    `precision_recall` read against `held_out_n` of them): read against `n` of the drawings the model was
    fitted on (`seen`), less what seen drawings add over held-out ones at `held_out_n`. Both figures move
    with N (each real drawing's k-NN ball shrinks as N grows), so validation's few drawings read above test's
    many; the seen drawings are many, but fitted."""
    if len(seen) < n:
        raise QuickdrawError(f"precision and recall at {n} drawings: {len(seen)} training drawings to read them on")
    rows = np.random.default_rng(seed).permutation(len(seen))
    at_n = precision_recall(generated, seen[np.sort(rows[:n])], judge_path, seed)
    seen_small = precision_recall(generated, seen[np.sort(rows[:held_out_n])], judge_path, seed)
    return {k: at_n[k] - (seen_small[k] - held_out[k]) for k in at_n}


def study_figures(generated: np.ndarray, real: np.ndarray, extractor: str, weights: str | None, seed: int,
                  isc_splits: int = 10) -> dict[str, float]:
    """The study's definitions in one feature space, at its N (STUDY_FID_N drawings a side, fewer where
    fewer exist): its IS, the softmax over the pooled features (torch-fidelity's IS over that layer),
    and its FID."""
    n = min(STUDY_FID_N, len(generated), len(real))
    generated = Drawings(subsample(generated, n, seed, "samples"))
    study_is = _calculate(extractor, weights, seed, input1=generated, isc=True, feature_layer_isc=POOLED[extractor],
                          isc_splits=isc_splits)
    fid = _calculate(extractor, weights, seed, input1=generated, input2=Drawings(subsample(real, n, seed, "real drawings")),
                     fid=True)
    return {"study_is": float(study_is["inception_score_mean"]), "fid_500": float(fid["frechet_inception_distance"]),
            "fid_500_n": n}


def subsample(images: np.ndarray, n: int, seed: int, where: str) -> np.ndarray:
    if len(images) < n:
        raise QuickdrawError(f"{where}: has {len(images)} drawings, evaluate.n asks for {n}")
    return images[np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))]


def evaluate_generation(samples: dict[str, np.ndarray], real: np.ndarray, real_floor: np.ndarray, ep,
                        judge_path: Path, n: int | None = None, where: str = "real drawings",
                        study: bool = False) -> dict:
    """Every sample set's IS/FID/KID/precision/recall in every feature space against `real`, plus the
    floor (`real_floor`, other real drawings, against `real`), all at one N (`evaluate.n` unless given);
    with `study`, the study's IS and FID (`study_figures`) too, from all of each set and all of `real`."""
    from . import inception

    n = n or ep.n
    registry_name = {"sketch": SKETCH, "inception": inception.INCEPTION}
    weights = {"sketch": str(judge_path)}
    if "inception" in ep.feature_extractors:
        weights["inception"] = inception.weights_path(ep.inception_weights)
    full = {"real_floor": real_floor, **samples}
    sets = {"real_floor": subsample(real_floor, n, ep.seed, "the training drawings")}
    for name, images in samples.items():
        sets[name] = subsample(images, n, ep.seed, f"samples of {name}")
    real_n = subsample(real, n, ep.seed, where)
    out = {"n": n}
    for space in ep.feature_extractors:
        for name, images in sets.items():
            scores = fidelity(images, real_n, registry_name[space], weights[space], ep.kid_subset_size, ep.seed)
            if study:
                scores.update(study_figures(full[name], real, registry_name[space], weights[space], ep.seed))
            out.update({f"{name}.{space}.{k}": round(v, 6) for k, v in scores.items()})
    out["train_reference"] = train_reference(samples, real_floor, judge_path, ep)
    return out


def train_reference(samples: dict[str, np.ndarray], train: np.ndarray, judge_path: Path, ep) -> dict:
    """Sketch FID and KID of every sample set against the training drawings, at the largest N both allow.

    A steadier second yardstick: held-out splits are small (N = evaluate.n or less), and FID's
    seed-to-seed spread shrinks with N. Training drawings are what the model saw, so a model that
    copies would score well here: read it beside the copy check."""
    n = min(len(train), *(len(images) for images in samples.values()))
    real = subsample(train, n, ep.seed, "the training drawings")
    out = {"n": n}
    for name, images in samples.items():
        scores = fidelity(subsample(images, n, ep.seed, f"samples of {name}"), real, SKETCH, str(judge_path),
                          ep.kid_subset_size, ep.seed)
        out[name] = {"fid": round(scores["fid"], 6), "kid": round(scores["kid"], 6)}
    return out


def per_class_quality(images: np.ndarray, labels: np.ndarray, real: np.ndarray, real_labels: np.ndarray,
                      classes: list[str], judge_path: Path, ep) -> dict:
    """Sketch FID, KID, precision and recall of each class's conditional samples against the real drawings
    of that class, at the larger N both sides allow, so the weak classes show (and the classes whose
    samples repeat a few poses: low recall)."""
    out = {}
    for i, c in enumerate(classes):
        mine, theirs = images[labels == i], real[real_labels == i]
        n = min(len(mine), len(theirs))
        if n < 2:
            raise QuickdrawError(f"class {c!r}: {len(mine)} samples and {len(theirs)} real drawings, need 2 of each")
        scores = fidelity(subsample(mine, n, ep.seed, f"samples of {c}"), subsample(theirs, n, ep.seed, f"drawings of {c}"),
                          SKETCH, str(judge_path), ep.kid_subset_size, ep.seed)
        out[c] = {"n": n, **{k: round(scores[k], 6) for k in ("fid", "kid", "precision", "recall")}}
    return out


def nearest_distances(queries: np.ndarray, references: np.ndarray, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """For each query drawing, the pixel-space (L2, pixels in [0, 1]) distance to its nearest reference
    drawing and that drawing's index."""
    refs = torch.from_numpy(np.array(references, dtype=np.uint8).reshape(len(references), -1)).float().div_(255)
    dists, index = [], []
    for i in range(0, len(queries), chunk):
        q = torch.from_numpy(np.array(queries[i : i + chunk], dtype=np.uint8).reshape(-1, refs.shape[1])).float().div_(255)
        d, j = torch.cdist(q, refs).min(1)
        dists.append(d.numpy())
        index.append(j.numpy())
    return np.concatenate(dists), np.concatenate(index)


def copy_check(samples: dict[str, np.ndarray], train: np.ndarray, held_out: np.ndarray, quantile: float = 0.05) -> dict:
    """Does a model return its training drawings? Each sample's distance to its nearest training drawing,
    against the same distance for real held-out drawings (test, or validation where choices are made;
    never trained on): the share of samples closer to a training drawing than all but `quantile` of the
    held-out drawings are. A model that draws new drawings shows about `quantile`; one that copies, far more."""
    held_out_d, _ = nearest_distances(held_out, train)
    threshold = float(np.quantile(held_out_d, quantile))
    out = {"threshold": round(threshold, 4), "quantile": quantile,
           "held_out_median": round(float(np.median(held_out_d)), 4)}
    for name, images in samples.items():
        d, _ = nearest_distances(images, train)
        out[name] = {"share_closer": round(float((d < threshold).mean()), 4), "median": round(float(np.median(d)), 4)}
    return out


def reconstructions_recognised(judge, models: dict, images: np.ndarray, labels: np.ndarray,
                               classes: list[str], pixels) -> dict:
    """The judge's report on each model's reconstructions of labelled drawings (decoded from the latent
    means through `pixels`, a Sampler's pixel mapping): does the encoder pass the drawing through?"""
    from .data import Pixels
    from .judge import judge_report
    from .sampling import reconstruct

    x, y = Pixels(images), torch.from_numpy(labels)
    return {name: judge_report(judge, reconstruct(model, x, y, pixels), labels, classes)[0]
            for name, model in models.items()}


def classification_accuracy_score(samples: np.ndarray, sample_labels: np.ndarray, train, test, classes: list[str],
                                  jp, seed: int) -> dict:
    """The classification accuracy score (Ravuri and Vinyals, 2019): a judge trained only on a conditional
    model's samples (labelled by the class they were drawn for), tested on real test drawings, beside the
    same judge (architecture, `judge.*` recipe, seed) trained on as many real training drawings of each class.
    Samples that show their class, in its variety, teach a classifier as real drawings do; samples that
    miss a class's range teach less."""
    from .data import Pixels
    from .judge import judge_report, train_judge

    per_class = np.bincount(sample_labels, minlength=len(classes))
    rng = np.random.default_rng(seed)
    picked = []
    for c, n in enumerate(per_class):
        rows = np.flatnonzero(train.labels == c)
        if len(rows) < n:
            raise QuickdrawError(f"classification accuracy score: {n} samples of {classes[c]!r}, only {len(rows)} "
                                 "training drawings to compare with")
        picked.append(np.sort(rng.choice(rows, n, replace=False)))
    real_rows = np.concatenate(picked)
    out = {"n_train": int(per_class.sum())}
    for name, images, labels in (("samples", samples, sample_labels), ("real", train.images[real_rows],
                                                                         train.labels[real_rows])):
        judge = train_judge(Pixels(images), torch.from_numpy(np.asarray(labels, np.int64)), len(classes),
                            jp.epochs, jp.batch_size, jp.lr, jp.seed, jp.width)
        out[name] = judge_report(judge, test.images, test.labels, classes)[0]
    out["ratio"] = round(out["samples"]["accuracy"] / max(out["real"]["accuracy"], 1e-9), 4)
    return out
