"""InceptionV3, the study's feature space: its weights fetched, verified and loaded without unpickling.

torch-fidelity publishes the FID InceptionV3 weights as `weights-inception-2015-12-05-6726825d.pth`;
as in torch.hub, the part after the last dash is the start of the file's SHA-256. A download is
streamed into the cache folder under a temporary name, checked against that hash, and only then
renamed into place. Loading uses `torch.load(weights_only=True)`; the extractor gets those tensors
(`VerifiedInceptionV3`), never the file itself, which torch-fidelity would unpickle in full.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import urllib.request
from pathlib import Path

import torch
import torch_fidelity
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3

from .errors import QuickdrawError

INCEPTION = "quickdraw-inception-v3-verified"
TIMEOUT_S = 60


def published_hash(url_or_name: str) -> str:
    """The SHA-256 prefix a torch.hub-style file name carries (`...-6726825d.pth` -> `6726825d`)."""
    match = re.search(r"-([0-9a-f]{8,64})\.[^./]+$", url_or_name)
    if match is None:
        raise QuickdrawError(f"{url_or_name}: the file name carries no SHA-256 prefix to check the download against")
    return match[1]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_weights(url: str, cache_dir: Path) -> Path:
    """`cache_dir/<file name>`, downloaded from `url` unless already cached; its hash checked either way."""
    name = url.rsplit("/", 1)[-1]
    expected = published_hash(name)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / name
    if target.is_file():
        if _sha256(target).startswith(expected):
            return target
        target.unlink()  # a cached file that fails its hash is fetched again
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
        actual = _sha256(Path(tmp))
        if not actual.startswith(expected):
            raise QuickdrawError(f"{url}: downloaded file has SHA-256 {actual[:16]}..., expected {expected}...; not cached")
        os.replace(tmp, target)
    except OSError as e:
        raise QuickdrawError(
            f"InceptionV3 weights unavailable from {url} ({type(e).__name__}): place {name} in {cache_dir} "
            "or set evaluate.inception_weights to a local copy") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors only: `weights_only=True` refuses any pickled object that is not a tensor or container."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files or forbidden globals
        raise QuickdrawError(f"{path}: not a plain InceptionV3 state_dict ({type(e).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise QuickdrawError(f"{path}: not a plain InceptionV3 state_dict (expected a mapping of tensors)")
    return state


def weights_path(configured: str, url: str = URL_INCEPTION_V3) -> str:
    """The verified weights file: `evaluate.inception_weights` when set, else the torch.hub cache
    (downloaded there with its hash checked when missing)."""
    if configured:
        if not Path(configured).is_file():
            raise QuickdrawError(f"params.yaml: evaluate.inception_weights {configured!r} does not exist")
        return configured
    return str(fetch_weights(url, Path(torch.hub.get_dir()) / "checkpoints"))


class VerifiedInceptionV3(FeatureExtractorInceptionV3):
    """torch-fidelity's InceptionV3, built from tensors loaded with `weights_only=True`.

    The parent class reads its weights with a full unpickle; it is handed an in-memory copy of the
    already-verified tensors instead of the file, so only tensors ever reach that unpickler.
    """

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        if feature_extractor_weights_path is None:
            raise QuickdrawError("InceptionV3: no weights file (evaluate.inception_weights or the download cache)")
        buffer = io.BytesIO()
        torch.save(load_state_dict(feature_extractor_weights_path), buffer)
        buffer.seek(0)
        try:
            super().__init__(name, features_list, feature_extractor_weights_path=buffer, **kwargs)
        except RuntimeError as e:  # load_state_dict: missing or unexpected keys, wrong shapes
            raise QuickdrawError(f"{feature_extractor_weights_path}: not InceptionV3 weights ({str(e).splitlines()[0]})") from None


if INCEPTION not in torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(INCEPTION, VerifiedInceptionV3)
