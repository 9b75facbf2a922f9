"""The valid values of every params.yaml choice, in one place: the params validation and the code
that acts on them both read these lists (no PyTorch import, so params load fast)."""

import difflib
import re
from pathlib import Path

from .errors import QuickdrawError

PROFILES = ("ours", "study")  # params.Params.profile: study_profile merged over the keys, or not
ARCHITECTURES = ("residual", "study")  # models.VAE: ours, or the study's own layers
ENCODERS = ("rnn", "cnn")
CONDITIONAL_INITS = ("best", "scratch")
EMBEDDING_INITS = ("class_means", "random")  # training.warm_start
SCHEDULES = ("cosine", "constant")  # training.fit
KEEP = ("best", "last")  # training.fit: the best validation epoch's weights, or the last epoch's
STRATEGIES = ("prior", "gmm", "mixed")  # sampling.Sampler
PRIORS = ("standard", "mixture")  # models.VAE: N(0, I), or a Gaussian mixture learned with the model
PIXELS = ("mean", "sharpened")
PERCEPTUAL_LAYERS = ("last", "blocks")  # judge.SketchJudge.feature_layers: the feature layer, or each block's too
DEVICES = ("auto", "cpu", "cuda", "mps")  # runtime.pick_device
FEATURE_EXTRACTORS = ("sketch", "inception")  # metrics


# Class names become file names and URL paths: anything that could escape them is refused.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _-]*")


def check_class_name(name: str) -> None:
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise QuickdrawError(f"params.yaml: data.classes has an invalid class name {name!r}")


def read_categories(path: str) -> tuple[str, ...]:
    """The categories `data.classes` may name (`data.categories`: one name a line): by default Google's
    official list of 345, the dataset's own categories.txt, kept beside this module."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise QuickdrawError(f"{path}: category list not found (params.yaml: data.categories)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise QuickdrawError(f"{path}: unreadable category list ({e}) (params.yaml: data.categories)") from None
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    for name in names:
        if not SAFE_NAME.fullmatch(name):
            raise QuickdrawError(f"{path}: invalid category name {name!r}")
    if len(set(names)) != len(names) or len(names) < 2:
        raise QuickdrawError(f"{path}: a category list needs at least two distinct names")
    return names


def pick_classes(spec, categories: tuple[str, ...]) -> list[str]:
    """`data.classes` as names: a list of categories (label = index in it), `all`, or a count, which takes
    categories evenly spread over the list (every (345 / count)-th), so no seed changes which classes a study has."""
    if spec == "all":
        return list(categories)
    if isinstance(spec, int) and not isinstance(spec, bool):
        if not 2 <= spec <= len(categories):
            raise QuickdrawError(f"params.yaml: data.classes as a count must be between 2 and {len(categories)}, "
                                 f"got {spec}")
        return [categories[i * len(categories) // spec] for i in range(spec)]
    if not isinstance(spec, list) or not all(isinstance(name, str) for name in spec):
        raise QuickdrawError(f"params.yaml: data.classes must be a list of category names, all, or a count, "
                             f"got {spec!r}")
    for name in spec:
        check_class_name(name)
        if name not in categories:
            close = difflib.get_close_matches(name, categories, n=3, cutoff=0.6)
            hint = f"; closest: {', '.join(close)}" if close else ""
            raise QuickdrawError(f"params.yaml: data.classes has unknown category {name!r}{hint}")
    return list(spec)
