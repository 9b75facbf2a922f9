"""params.yaml, parsed and validated once into typed dataclasses.

Every error names the dotted key (``data.train_per_class``) so a typo in an
experiment's ``-S`` override fails before any work starts.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import yaml

from .choices import (
    ARCHITECTURES,
    CONDITIONAL_INITS,
    DEVICES,
    EMBEDDING_INITS,
    FEATURE_EXTRACTORS,
    KEEP,
    PERCEPTUAL_LAYERS,
    PIXELS,
    PRIORS,
    PROFILES,
    SCHEDULES,
    STRATEGIES,
    pick_classes,
    read_categories,
)
from .errors import QuickdrawError

MODEL_NAMES = ("rnn_cnn", "cnn_cnn")  # the unconditional pair, trained by dvc.yaml's matrix
ALL_MODELS = (*MODEL_NAMES, "conditional")
# Every model's samples, and each one's plain-prior baseline (`<model>_prior`).
SAMPLE_SETS = (*ALL_MODELS, *(f"{m}_prior" for m in ALL_MODELS))


def _at_least(low):
    return field(metadata={"min": low})


def _between(low, high):
    return field(metadata={"min": low, "max": high})


@dataclass(frozen=True)
class DataParams:
    source: str
    categories: str  # the list data.classes picks from: a file of one name a line
    classes: list[str]  # as names: a list, `all` or a count in params.yaml (choices.pick_classes)
    train_per_class: int = _at_least(1)
    test_per_class: int = _at_least(1)
    validation_fraction: float = _between(0.01, 0.5)  # of each class's training drawings; decides every choice
    seed: int = _at_least(0)


@dataclass(frozen=True)
class ModelParams:
    # residual: ours; study: the study's layers, sized by latent, channels and rnn_hidden alone (models.VAE)
    architecture: Literal[ARCHITECTURES]
    latent: int = _at_least(1)
    channels: int = _at_least(1)
    fine_channels: int = _at_least(1)
    hidden: int = _at_least(1)
    rnn_hidden: int = _at_least(1)
    rnn_row_features: int = _at_least(1)
    dropout: float = _between(0.0, 0.9)
    prior: Literal[PRIORS]  # standard N(0, I), or a mixture of prior_components Gaussians learned with the model
    prior_components: int = _at_least(0)


@dataclass(frozen=True)
class TrainParams:
    epochs: int = _at_least(1)
    batch_size: int = _at_least(1)
    lr: float = _between(1e-7, 1.0)
    lr_by_model: dict[str, float]  # a model's own learning rate instead of lr (the study's RNN-CNN: 1e-2)
    schedule: Literal[SCHEDULES]  # cosine decay of the learning rate over the run, or constant
    weight_decay: float = _between(0.0, 1.0)  # AdamW's; 0 is Adam
    kl_warmup_epochs: int = _at_least(0)
    hflip: bool  # mirror half of each batch: a mirrored rabbit is still a rabbit
    keep: Literal[KEEP]  # the weights of the best validation epoch, or of the last
    seed: int = _at_least(0)


@dataclass(frozen=True)
class RuntimeParams:
    threads: int = _at_least(1)  # PyTorch threads of every stage (split between the two trainings of `train`)
    device: Literal[DEVICES]  # where the training stages run; scoring and sampling stay on the CPU
    processes: int = _at_least(1)  # training processes under torchrun (torch.distributed); 1: no torchrun


@dataclass(frozen=True)
class QuickProfile:
    max_train_per_class: int = _at_least(1)
    epochs: int = _at_least(1)
    kl_warmup_epochs: int = _at_least(0)
    iwae_k: int = _at_least(1)
    conditional_epochs: int = _at_least(1)
    judge_epochs: int = _at_least(1)
    perceptual_weight: float = _between(0.0, 100.0)
    batch_size: int = _at_least(1)
    model: ModelParams


@dataclass(frozen=True)
class ConditionalParams:
    init: Literal[CONDITIONAL_INITS]  # best: fine-tune the selected unconditional model; scratch: from random weights
    embedding_init: Literal[EMBEDDING_INITS]  # with init best: each class's mean code, or PyTorch's N(0, 1)
    epochs: int = _at_least(1)  # with init: best (scratch trains train.epochs)
    kl_warmup_epochs: int = _at_least(0)


@dataclass(frozen=True)
class SampleParams:
    n: int = _at_least(1)
    strategy: Literal[STRATEGIES]
    temperature: float = _between(0.0, 10.0)
    temperature_by_model: dict[str, float]  # a model's own temperature instead of temperature
    gmm_components: int = _at_least(1)
    pixels: Literal[PIXELS]
    sharpen: float = _between(0.1, 100.0)
    class_scale: float = _between(0.0, 10.0)
    seed: int = _at_least(0)


@dataclass(frozen=True)
class JudgeParams:
    width: int = _at_least(1)
    epochs: int = _at_least(1)
    batch_size: int = _at_least(1)
    lr: float = _between(1e-7, 1.0)
    seed: int = _at_least(0)


@dataclass(frozen=True)
class PerceptualParams(JudgeParams):
    weight: float = _between(0.0, 100.0)  # the feature distance's weight in every training loss; 0: none
    sharpen: float = _between(0.1, 100.0)  # the decoded drawing it sees: sigmoid(sharpen x logits)
    layers: Literal[PERCEPTUAL_LAYERS]  # the classifier's layers the distance reads: the last, or each block's too


@dataclass(frozen=True)
class EvaluateParams:
    feature_extractors: list[str]
    inception_weights: str
    iwae_k: int = _at_least(1)
    iwae_chunk: int = _at_least(1)
    n: int = _at_least(2)
    kid_subset_size: int = _at_least(2)
    max_held_out: int = _at_least(2)  # test / validation drawings scored: a seeded subset beyond
    max_reference: int = _at_least(2)  # training drawings compared with: a seeded subset beyond
    seed: int = _at_least(0)


@dataclass(frozen=True)
class ClaimsParams:
    runs: int = _at_least(2)
    first_seed: int = _at_least(0)  # a block of seeds no choice was made on
    decision_seeds: list[int]  # the seeds the choices of docs/decisions.md were made on, rerun for the before/after
    seed_params: list[str]
    set: list[str]


@dataclass(frozen=True)
class Params:
    profile: Literal[PROFILES]
    study_profile: dict  # a partial params tree, merged over the others when profile is study
    quick: bool
    quick_profile: QuickProfile
    runtime: RuntimeParams
    data: DataParams
    train: TrainParams
    models: dict[str, ModelParams]
    conditional: ConditionalParams
    sample: SampleParams
    judge: JudgeParams
    perceptual: PerceptualParams
    evaluate: EvaluateParams
    claims: ClaimsParams

    @property
    def conditional_train(self) -> TrainParams:
        """How the conditional model trains: train.* with conditional.kl_warmup_epochs, for
        conditional.epochs when it is fine-tuned."""
        warm = replace(self.train, kl_warmup_epochs=self.conditional.kl_warmup_epochs)
        return replace(warm, epochs=self.conditional.epochs) if self.conditional.init == "best" else warm

    def training(self, name: str) -> TrainParams:
        """How model `name` (rnn_cnn, cnn_cnn, conditional) trains, at its own learning rate."""
        tp = self.conditional_train if name == "conditional" else self.train
        return replace(tp, lr=tp.lr_by_model.get(name, tp.lr))

    def sampling(self, name: str) -> SampleParams:
        """How model `name` is sampled, at its own temperature."""
        return replace(self.sample, temperature=self.sample.temperature_by_model.get(name, self.sample.temperature))

    def resolved(self) -> "Params":
        """The params the stages actually use: `quick: true` applies `quick_profile`."""
        if not self.quick:
            return self
        q = self.quick_profile
        return replace(
            self,
            data=replace(self.data, train_per_class=min(self.data.train_per_class, q.max_train_per_class)),
            train=replace(self.train, epochs=q.epochs, kl_warmup_epochs=q.kl_warmup_epochs, batch_size=q.batch_size),
            judge=replace(self.judge, epochs=q.judge_epochs),
            perceptual=replace(self.perceptual, weight=q.perceptual_weight),
            evaluate=replace(self.evaluate, iwae_k=q.iwae_k),
            conditional=replace(self.conditional, epochs=q.conditional_epochs),
            models={name: q.model for name in self.models},
        )


def _type_name(tp) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _convert(tp, value, key: str, meta):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin is Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(map(str, typing.get_args(tp)))
            raise QuickdrawError(f"params.yaml: {key} must be one of {choices}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise QuickdrawError(f"params.yaml: {key} must be a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{key}[{i}]", {}) for i, v in enumerate(value)]
    if tp is dict:  # a params tree checked where it is used (study_profile: merge_profile)
        if not isinstance(value, dict):
            raise QuickdrawError(f"params.yaml: {key} must be a mapping, got {value!r}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise QuickdrawError(f"params.yaml: {key} must be a mapping, got {value!r}")
        _, item = typing.get_args(tp)
        return {k: _convert(item, v, f"{key}.{k}", {}) for k, v in value.items()}
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[tp]
    if not ok:
        raise QuickdrawError(f"params.yaml: {key} must be {_type_name(tp)}, got {value!r}")
    if "min" in meta and value < meta["min"]:
        raise QuickdrawError(f"params.yaml: {key} must be >= {meta['min']}, got {value!r}")
    if "max" in meta and value > meta["max"]:
        raise QuickdrawError(f"params.yaml: {key} must be <= {meta['max']}, got {value!r}")
    return float(value) if tp is float else value


def _build(cls, raw, key: str):
    where = key or "params.yaml"
    if not isinstance(raw, dict):
        raise QuickdrawError(f"params.yaml: {where} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    prefix = f"{key}." if key else ""
    for unknown in sorted(set(raw) - set(names)):
        raise QuickdrawError(f"params.yaml: unknown key {prefix}{unknown}")
    for missing in [n for n in names if n not in raw]:
        raise QuickdrawError(f"params.yaml: missing key {prefix}{missing}")
    values = {
        f.name: _convert(hints[f.name], raw[f.name], prefix + f.name, f.metadata)
        for f in dataclasses.fields(cls)
    }
    return cls(**values)


def _with_class_names(raw):
    """params.yaml's data.classes (names, `all` or a count) as the names it picks from data.categories."""
    data = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(data, dict) or "classes" not in data or "categories" not in data:
        return raw  # _build names the missing key
    if not isinstance(data["categories"], str) or not data["categories"]:
        raise QuickdrawError(f"params.yaml: data.categories must be a category list file, got {data['categories']!r}")
    classes = pick_classes(data["classes"], read_categories(data["categories"]))
    return {**raw, "data": {**data, "classes": classes}}


def _check(params: Params) -> None:
    if len(set(params.data.classes)) != len(params.data.classes) or len(params.data.classes) < 2:
        raise QuickdrawError("params.yaml: data.classes must list at least two distinct classes")
    if set(params.models) != set(MODEL_NAMES):
        raise QuickdrawError(f"params.yaml: models must have exactly the keys {', '.join(MODEL_NAMES)}")
    for name, mp in params.models.items():
        if (mp.prior == "mixture") != (mp.prior_components > 0):
            raise QuickdrawError(f"params.yaml: models.{name}.prior_components must be above 0 with prior: mixture "
                                 f"and 0 with prior: standard, got {mp.prior_components} with {mp.prior}")
    _check_by_model("train.lr_by_model", params.train.lr_by_model, 1e-7, 1.0)
    _check_by_model("sample.temperature_by_model", params.sample.temperature_by_model, 0.0, 10.0)
    for name in params.evaluate.feature_extractors:
        if name not in FEATURE_EXTRACTORS:
            raise QuickdrawError(f"params.yaml: evaluate.feature_extractors has unknown extractor {name!r} "
                                 f"({', '.join(FEATURE_EXTRACTORS)})")


def _check_by_model(key: str, values: dict, low: float, high: float) -> None:
    for name, value in values.items():
        if name not in ALL_MODELS:
            raise QuickdrawError(f"params.yaml: {key} has unknown model {name!r} ({', '.join(ALL_MODELS)})")
        if not low <= value <= high:
            raise QuickdrawError(f"params.yaml: {key}.{name} must be between {low:g} and {high:g}, got {value!r}")


def _check_combinations(p: Params, raw: dict) -> None:
    """Mistakes that no single key shows, each of which a later stage would otherwise hit after
    minutes of work (checked on the params the stages use: quick mode applied)."""
    d, ev, sp = p.data, p.evaluate, p.sample
    classes = len(d.classes)
    n_val = max(1, round(d.train_per_class * d.validation_fraction))
    if d.train_per_class - n_val < 1:
        raise QuickdrawError(f"params.yaml: data.train_per_class ({d.train_per_class}) leaves no training drawings "
                             f"after data.validation_fraction ({d.validation_fraction}) carves {n_val} per class "
                             "for validation; use at least 2")
    test_total = d.test_per_class * classes
    if ev.n > test_total:
        raise QuickdrawError(f"params.yaml: evaluate.n ({ev.n}) is larger than the test split "
                             f"({classes} classes x data.test_per_class {d.test_per_class} = {test_total})")
    if sp.n < classes:
        raise QuickdrawError(f"params.yaml: sample.n ({sp.n}) is smaller than the number of classes ({classes}): "
                             "the conditional model draws the same number of every class")
    conditional_samples = sp.n // classes * classes
    if ev.n > conditional_samples:
        raise QuickdrawError(f"params.yaml: evaluate.n ({ev.n}) is larger than the samples drawn "
                             f"(sample.n {sp.n}, {conditional_samples} for the conditional model: a multiple of "
                             f"{classes} classes)")
    for key in ("max_held_out", "max_reference"):
        if getattr(ev, key) < ev.n:
            raise QuickdrawError(f"params.yaml: evaluate.{key} ({getattr(ev, key)}) is smaller than evaluate.n ({ev.n})")
    if p.train.batch_size % p.runtime.processes:
        key = "quick_profile.batch_size" if p.quick else "train.batch_size"
        raise QuickdrawError(f"params.yaml: {key} ({p.train.batch_size}) must be a multiple of runtime.processes "
                             f"({p.runtime.processes}): each process takes an equal share of a step")
    if ev.kid_subset_size > ev.n:
        raise QuickdrawError(f"params.yaml: evaluate.kid_subset_size ({ev.kid_subset_size}) is larger than "
                             f"evaluate.n ({ev.n})")
    if "sketch" not in ev.feature_extractors:
        raise QuickdrawError("params.yaml: evaluate.feature_extractors must include sketch (the report and the "
                             "claims read the judge's feature space)")
    judge_fields = {f: getattr(p.judge, f) for f in p.judge.__dataclass_fields__}
    if p.perceptual.weight > 0 and all(getattr(p.perceptual, f) == v for f, v in judge_fields.items()):
        raise QuickdrawError("params.yaml: perceptual.* trains the judge itself (the same width, epochs, batch_size, "
                             "lr and seed as judge.*): the ruler would be in the loss; give perceptual its own seed")
    for key in p.claims.seed_params:
        node = raw
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, int) or isinstance(node, bool):
            raise QuickdrawError(f"params.yaml: claims.seed_params has {key!r}, which is not an integer param")


def merge_profile(raw: dict) -> dict:
    """The params a profile runs with: with `profile: study`, every key of `study_profile` replaces the
    same key above it (nested mappings merged key by key). A key with no counterpart is a typo, named;
    an empty mapping (train.lr_by_model) takes new keys."""
    if not isinstance(raw, dict) or raw.get("profile") != "study":
        return raw

    def merged(base, over, where: str):
        if not isinstance(over, dict) or not isinstance(base, dict):
            return over
        out = dict(base)
        for key, value in over.items():
            if key not in base and base:
                raise QuickdrawError(f"params.yaml: study_profile.{where}{key} names no params key {where}{key}")
            out[key] = merged(base.get(key), value, f"{where}{key}.")
        return out

    profile = raw.get("study_profile")
    if not isinstance(profile, dict):
        raise QuickdrawError(f"params.yaml: study_profile must be a mapping, got {profile!r}")
    for key in ("profile", "study_profile", "claims"):
        if key in profile:
            raise QuickdrawError(f"params.yaml: study_profile.{key} cannot be set by the profile itself")
    return merged(raw, profile, "")


def parse_params(raw) -> Params:
    """Validate params.yaml's contents (the profile merged in); quick mode is applied by `resolved()`."""
    raw = _with_class_names(merge_profile(raw))
    params = _build(Params, raw, "")
    _check(params)
    _check_combinations(params.resolved(), raw)
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; returns the params with `quick` already applied."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise QuickdrawError(f"{path}: params file not found") from None
    except yaml.YAMLError as e:
        raise QuickdrawError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    return parse_params(raw).resolved()
