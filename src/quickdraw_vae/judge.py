"""The sketch judge: a small CNN classifier trained on Quick, Draw! itself.

Inception was trained on photographs; a classifier of drawings gives a feature space (its
penultimate layer) and class probabilities that actually see strokes, as DoodlerGAN did for
sketches and "FID with LeNet features" does for MNIST.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .errors import QuickdrawError

JUDGE_FORMAT = 1


@dataclass(frozen=True)
class JudgeConfig:
    num_classes: int
    width: int = 32
    feature_dim: int = 128


class SketchJudge(nn.Module):
    def __init__(self, cfg: JudgeConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width

        def block(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.ReLU(),
                    nn.Conv2d(c_out, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

        self.body = nn.Sequential(*block(1, w), *block(w, 2 * w), nn.Flatten(),
                                  nn.Linear(2 * w * 49, cfg.feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(0.3)
        self.classify = nn.Linear(cfg.feature_dim, cfg.num_classes)
        self.to(memory_format=torch.channels_last)  # faster scoring on the CPU, as in models.VAE

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def feature_layers(self, x: torch.Tensor, layers: str = "last") -> list[torch.Tensor]:
        """The features of `x`, flattened per drawing: "last", the feature layer alone; "blocks", each pooled
        block's output as well (where the strokes' shapes still are, before the class is all that is left)."""
        taps, h = [], x
        for module in self.body:
            h = module(h)
            if layers == "blocks" and isinstance(module, nn.MaxPool2d):
                taps.append(h.flatten(1))
        return [*taps, h]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.dropout(self.features(x)))


def _shift(x: torch.Tensor, gen: torch.Generator, pixels: int = 2) -> torch.Tensor:
    # Small random translations: drawings sit anywhere in the frame, the judge should not care.
    dx, dy = (torch.randint(-pixels, pixels + 1, (2,), generator=gen)).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def train_judge(x, y: torch.Tensor, num_classes: int, epochs: int, batch_size: int, lr: float,
                seed: int, width: int = 32, device: torch.device = torch.device("cpu")) -> SketchJudge:
    """Train on `device` from drawings `x` (a `data.Pixels`, or a float tensor (N, 1, 28, 28)) labelled `y`;
    the judge comes back on the CPU, where scoring runs."""
    torch.manual_seed(seed)
    model = SketchJudge(JudgeConfig(num_classes, width)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(x) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr * 3, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        bar = tqdm(range(0, len(x), batch_size), desc=f"judge {epoch}/{epochs}", leave=False, disable=None)
        for start in bar:
            idx = perm[start : start + batch_size]
            loss = F.cross_entropy(model(_shift(x[idx].to(device), gen)), y[idx].to(device), label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.cpu().eval()


@torch.no_grad()
def predict_proba(model: SketchJudge, images: np.ndarray, batch: int = 128) -> np.ndarray:
    """Class probabilities for uint8 (N, 28, 28) drawings."""
    # Small batches keep the 28x28 feature maps in the CPU's caches (docs/performance.md).
    from .data import Pixels
    from .runtime import device_of

    model.eval()
    device = device_of(model)
    x = Pixels(images)
    # Written into one array as the batches go: a list of thousands of small tensors, each kept between two
    # batches' large freed buffers, fragmented the heap until the process's memory grew with the drawings.
    out = np.empty((len(x), model.cfg.num_classes), np.float32)
    for i in range(0, len(x), batch):
        out[i : i + batch] = F.softmax(model(x[i : i + batch].to(device)), 1).cpu().numpy()
    return out


def save_judge(path: str | Path, model: SketchJudge | None, classes: list[str], kind: str = "judge") -> None:
    """A classifier's checkpoint; with no model (a perceptual term of weight 0), one that says so."""
    from dataclasses import asdict

    from .files import save_torch

    if model is None:
        save_torch(path, {"format": JUDGE_FORMAT, "kind": kind, "classes": list(classes)})
        return
    save_torch(path, {"format": JUDGE_FORMAT, "kind": kind, "config": asdict(model.cfg), "classes": list(classes),
                      "state_dict": model.state_dict()})


def train_and_measure(jp, train, validation, classes: list[str], device: torch.device) -> tuple[SketchJudge, dict]:
    """A classifier as `jp` (`judge.*` or `perceptual.*`) says, trained on the `train` split and measured
    on the `validation` split: the model, and its validation report."""
    from .data import Pixels

    model = train_judge(Pixels(train.images), torch.from_numpy(train.labels), len(classes), jp.epochs,
                        jp.batch_size, jp.lr, jp.seed, jp.width, device)
    report, _ = judge_report(model, validation.images, validation.labels, classes)
    return model, report


# Judge files read, by (file, modification time, size): torch-fidelity builds its feature extractor anew for
# every scoring call, and a stage scores a dozen sample sets with one judge. The file's tensors are kept,
# never a module: every caller gets a module of its own, so torch-fidelity moving its extractor to the GPU
# moves no judge anyone else holds.
_READ: dict[tuple, tuple[JudgeConfig, dict[str, torch.Tensor], list[str]]] = {}


def load_judge(path: str | Path, stage: str = "train_judge") -> tuple[SketchJudge, list[str]]:
    """A new judge module (on the CPU, in eval mode) built from the checkpoint at `path` (which `stage`
    writes), and its classes."""
    path = Path(path)
    if not path.is_file():
        raise QuickdrawError(f"{path}: no such classifier checkpoint (run `dvc repro {stage}`)")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _READ:
        _READ.clear()  # one judge at a time is all a stage uses
        _READ[key] = _read_judge(path)
    cfg, state, classes = _READ[key]
    model = SketchJudge(cfg)
    model.load_state_dict(state)
    return model.eval(), list(classes)


def _read_judge(path: Path) -> tuple[JudgeConfig, dict[str, torch.Tensor], list[str]]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        cfg = JudgeConfig(**payload["config"])
        SketchJudge(cfg).load_state_dict(payload["state_dict"])  # the weights fit the stored architecture
    except Exception as e:
        raise QuickdrawError(f"{path}: not a sketch-classifier checkpoint with weights ({type(e).__name__})") from None
    return cfg, payload["state_dict"], list(payload["classes"])


def judge_report(model: SketchJudge, images: np.ndarray, labels: np.ndarray, classes: list[str]) -> tuple[dict, np.ndarray]:
    """Accuracy, per-class accuracy and macro F1 (scikit-learn) on labelled drawings; and the confusion matrix."""
    from sklearn.metrics import classification_report, confusion_matrix

    predicted = predict_proba(model, images).argmax(1)
    matrix = confusion_matrix(labels, predicted, labels=range(len(classes)))
    report = classification_report(labels, predicted, labels=range(len(classes)), target_names=classes,
                                   output_dict=True, zero_division=0)
    per_class = {c: round(float(matrix[i, i] / max(1, matrix[i].sum())), 4) for i, c in enumerate(classes)}
    return {"accuracy": round(float((predicted == labels).mean()), 4), "per_class_accuracy": per_class,
            "macro_f1": round(float(report["macro avg"]["f1-score"]), 4)}, matrix


def classify_samples(model: SketchJudge, samples: dict[str, tuple[np.ndarray, np.ndarray | None]],
                     classes: list[str]) -> dict:
    """How the judge sees each model's samples.

    Conditional samples: per class, the share the judge calls by their own class and its mean
    confidence in that class. Unconditional samples: the distribution of predicted classes.
    """
    out = {}
    for name, (images, labels) in samples.items():
        proba = predict_proba(model, images)
        predicted = proba.argmax(1)
        if labels is None:
            share = np.bincount(predicted, minlength=len(classes)) / len(predicted)
            out[name] = {"predicted_share": {c: round(float(share[i]), 4) for i, c in enumerate(classes)},
                         "mean_confidence": round(float(proba.max(1).mean()), 4)}
            continue
        per_class = {}
        for i, c in enumerate(classes):
            rows = labels == i
            per_class[c] = {"accuracy": round(float((predicted[rows] == i).mean()), 4),
                            "confidence": round(float(proba[rows, i].mean()), 4)}
        accuracies = [v["accuracy"] for v in per_class.values()]
        out[name] = {"accuracy": round(float(np.mean(accuracies)), 4), "min_class_accuracy": min(accuracies),
                     "per_class": per_class}
    return out
