"""The valid values of every params.yaml choice, in one place: the params validation and the code
that acts on them both read these lists (no PyTorch import, so params load fast)."""

import re

from .errors import QuickdrawError

PROFILES = ("ours", "study")  # params.Params.profile: study_profile merged over the keys, or not
ARCHITECTURES = ("residual", "study")  # models.VAE: ours, or the study's own layers
ENCODERS = ("rnn", "cnn")
CONDITIONAL_INITS = ("best", "scratch")
EMBEDDING_INITS = ("class_means", "random")  # training.warm_start
SCHEDULES = ("cosine", "constant")  # training.fit
KEEP = ("best", "last")  # training.fit: the best validation epoch's weights, or the last epoch's
STRATEGIES = ("prior", "gmm", "mixed")  # sampling.Sampler
PIXELS = ("mean", "sharpened")
DEVICES = ("auto", "cpu", "cuda", "mps")  # runtime.pick_device
FEATURE_EXTRACTORS = ("sketch", "inception")  # metrics


def check_class_name(name: str) -> None:
    # Class names become file names and URL paths: refuse anything that could escape them.
    if not re.fullmatch(r"[a-z0-9][a-z0-9 _-]*", name):
        raise QuickdrawError(f"params.yaml: data.classes has an invalid class name {name!r}")
