import hashlib
import os

import numpy as np
import pytest
import torch
import torch_fidelity
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from quickdraw_vae.errors import QuickdrawError
from quickdraw_vae.judge import JudgeConfig, SketchJudge, classify_samples, save_judge
from httpserver import serve
from quickdraw_vae import inception
from quickdraw_vae.inception import INCEPTION, fetch_weights
from quickdraw_vae.metrics import SKETCH, fidelity, precision_recall, precision_recall_carried
from quickdraw_vae.sampling import load_samples

ONEHOT = "test-onehot-by-brightness"


class OneHotByBrightness(FeatureExtractorBase):
    """A perfectly confident 'classifier': the class is the drawing's brightness bucket."""

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)

    @staticmethod
    def get_provided_features_list():
        return ("features", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "logits" if metric == "isc" else "features"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return None

    def forward(self, x):
        bucket = (x[:, 0, 0, 0].long() // 50).clamp(max=4)
        logits = torch.nn.functional.one_hot(bucket, 5).float() * 100
        return tuple({"features": logits / 100 + x.float().mean((1, 2, 3), keepdim=False).unsqueeze(1) / 255,
                      "logits": logits}[f] for f in self.features_list)


if ONEHOT not in torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(ONEHOT, OneHotByBrightness)


def _buckets(n_per_class):
    return np.repeat(np.arange(5) * 50 + 10, n_per_class).astype(np.uint8)[:, None, None] * np.ones((1, 28, 28), np.uint8)


def test_inception_score_of_confident_even_predictions_is_the_class_count():
    images = _buckets(40)
    # One split, so every split is evenly spread: IS = exp(H(y)) = 5.
    result = fidelity(images, images, ONEHOT, None, kid_subset_size=50, seed=0, isc_splits=1)
    assert result["is"] == pytest.approx(5.0, rel=1e-4)


def test_inception_score_of_one_class_is_one():
    images = _buckets(40)[:40]
    assert fidelity(images, images, ONEHOT, None, 20, seed=0, isc_splits=1)["is"] == pytest.approx(1.0, rel=1e-4)


@pytest.fixture(scope="module")
def judge_path(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("judge") / "judge.pt"
    save_judge(path, SketchJudge(JudgeConfig(5)), list("abcde"))
    return str(path)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_difference(shared_quickdraw, judge_path):
    real = np.load(shared_quickdraw / "snowman.npy")[:300].reshape(-1, 28, 28)
    same = fidelity(real, real, SKETCH, judge_path, 100, 0)
    assert abs(same["fid"]) < 1e-3 and abs(same["kid"]) < 1e-3
    more = np.load(shared_quickdraw / "snowman.npy")[300:600].reshape(-1, 28, 28)
    other = np.load(shared_quickdraw / "hand.npy")[:300].reshape(-1, 28, 28)
    same_class = fidelity(more, real, SKETCH, judge_path, 100, 0)["fid"]
    assert fidelity(other, real, SKETCH, judge_path, 100, 0)["fid"] > 3 * same_class > 0


def test_sketch_metrics_are_deterministic(shared_quickdraw, judge_path):
    a = np.load(shared_quickdraw / "rabbit.npy")[:200].reshape(-1, 28, 28)
    b = np.load(shared_quickdraw / "yoga.npy")[:200].reshape(-1, 28, 28)
    assert fidelity(a, b, SKETCH, judge_path, 50, 3) == fidelity(a, b, SKETCH, judge_path, 50, 3)


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory):
    """Randomly initialised InceptionV3 weights, saved under a torch.hub-style name carrying their hash."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with pytest.MonkeyPatch.context() as mp:  # build the layers without downloading or reading anything
        mp.setattr(torch, "load", lambda *a, **k: {})
        mp.setattr(torch.nn.Module, "load_state_dict", lambda self, *a, **k: None)
        model = FeatureExtractorInceptionV3("random", ["2048"], feature_extractor_weights_path="unused")
    folder = tmp_path_factory.mktemp("served")
    plain = folder / "plain.pth"
    torch.save(model.state_dict(), plain)
    digest = hashlib.sha256(plain.read_bytes()).hexdigest()
    good = folder / f"weights-inception-test-{digest[:8]}.pth"
    plain.rename(good)
    return good


def test_inception_downloads_verifies_and_scores_with_verified_weights(random_inception, tmp_path):
    cache = tmp_path / "hub" / "checkpoints"  # does not exist yet: fetch creates it
    with serve(random_inception.parent) as (base, log):
        path = fetch_weights(f"{base}/{random_inception.name}", cache)
        assert fetch_weights(f"{base}/{random_inception.name}", cache) == path and len(log) == 1, "cached once verified"
    assert path.read_bytes() == random_inception.read_bytes() and sorted(os.listdir(cache)) == [random_inception.name]
    images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    result = fidelity(images, images[::-1].copy(), INCEPTION, str(path), kid_subset_size=6, seed=0)
    assert set(result) == {"is", "is_std", "fid", "kid", "kid_std", "precision", "recall"}
    assert np.isfinite(list(result.values())).all()
    from quickdraw_vae.inception import VerifiedInceptionV3
    from quickdraw_vae.metrics import POOLED

    assert POOLED[INCEPTION] in VerifiedInceptionV3.get_provided_features_list(), "the study's IS: its 2048 pooled features"


def test_inception_download_with_a_wrong_hash_is_refused_and_not_cached(random_inception, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    wrong = served / "weights-inception-test-00000000.pth"
    wrong.write_bytes(random_inception.read_bytes())
    with serve(served) as (base, _), pytest.raises(QuickdrawError) as e:
        fetch_weights(f"{base}/{wrong.name}", tmp_path / "cache")
    assert "expected 00000000" in str(e.value) and "\n" not in str(e.value)
    assert os.listdir(tmp_path / "cache") == []


class _Trap:
    """Unpickling this runs code (here: creates a file); a weights_only load must refuse it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_inception_weights_that_need_unpickling_are_refused(tmp_path):
    marker = tmp_path / "code-ran"
    weights = tmp_path / "evil.pth"
    torch.save({"fc.weight": torch.zeros(1), "payload": _Trap(str(marker))}, weights)
    with pytest.raises(QuickdrawError, match="evil.pth: not a plain InceptionV3 state_dict"):
        inception.VerifiedInceptionV3(INCEPTION, ["2048"], feature_extractor_weights_path=str(weights))
    assert not marker.exists()


def test_inception_weights_missing_file_names_the_key():
    with pytest.raises(QuickdrawError, match="evaluate.inception_weights '/nope.pth' does not exist"):
        inception.weights_path("/nope.pth")


def test_inception_weights_unreachable_says_where_to_put_them(tmp_path):
    url = "http://127.0.0.1:9/weights-inception-2015-12-05-6726825d.pth"
    with pytest.raises(QuickdrawError, match=r"InceptionV3 weights unavailable .*place weights-inception-2015-12-05"):
        fetch_weights(url, tmp_path / "cache")


def test_classify_counts_per_class_accuracy(judge_path):
    from quickdraw_vae.judge import load_judge

    judge, classes = load_judge(judge_path)
    images = np.zeros((10, 28, 28), np.uint8)
    labels = np.repeat(np.arange(5), 2)
    result = classify_samples(judge, {"cond": (images, labels), "free": (images, None)}, classes)
    # Identical inputs get one prediction: exactly one class is right, so the mean accuracy is 1/5.
    assert result["cond"]["accuracy"] == pytest.approx(0.2)
    assert sum(result["free"]["predicted_share"].values()) == pytest.approx(1.0)


def test_samples_file_with_wrong_dtype_or_shape_fails_clearly(tmp_path):
    np.savez(tmp_path / "float.npz", images=np.zeros((4, 28, 28), np.float32))
    with pytest.raises(QuickdrawError, match=r"float.npz: images must be uint8 \(N, 28, 28\)"):
        load_samples(tmp_path / "float.npz")
    np.savez(tmp_path / "shape.npz", images=np.zeros((4, 784), np.uint8))
    with pytest.raises(QuickdrawError, match="shape.npz: images must be uint8"):
        load_samples(tmp_path / "shape.npz")


def test_copy_check_flags_copies_and_not_new_drawings(shared_quickdraw):
    from quickdraw_vae.metrics import copy_check

    drawings = np.load(shared_quickdraw / "rabbit.npy").reshape(-1, 28, 28)
    train, test, unseen = drawings[:400], drawings[400:600], drawings[600:800]
    result = copy_check({"copier": train[:100].copy(), "drawer": unseen}, train, test)
    assert result["copier"]["share_closer"] == 1.0 and result["copier"]["median"] == 0.0
    assert result["drawer"]["share_closer"] < 0.2  # about the 5% a real held-out drawing shows


def test_the_training_reference_scores_every_set_at_the_largest_common_n(shared_quickdraw, judge_path):
    from types import SimpleNamespace

    from quickdraw_vae.metrics import train_reference

    train = np.load(shared_quickdraw / "snowman.npy")[:500].reshape(-1, 28, 28)
    samples = {"copies": train[:400].copy(), "hands": np.load(shared_quickdraw / "hand.npy")[:300].reshape(-1, 28, 28)}
    ref = train_reference(samples, train, judge_path, SimpleNamespace(seed=0, kid_subset_size=100))
    assert ref["n"] == 300 and set(ref) == {"n", "copies", "hands"}
    # Training drawings score best against themselves: why the copy check sits beside this figure.
    assert ref["copies"]["fid"] < ref["hands"]["fid"] / 3


def test_precision_and_recall_of_a_set_with_itself_and_of_one_repeated_drawing(shared_quickdraw, judge_path):
    real = np.load(shared_quickdraw / "snowman.npy")[:300].reshape(-1, 28, 28)
    itself = fidelity(real, real, SKETCH, judge_path, 100, 0)
    assert itself["precision"] == itself["recall"] == 1.0
    one = fidelity(np.repeat(real[:1], 300, 0), real, SKETCH, judge_path, 100, 0)
    assert one["precision"] == 1.0, "a real drawing lies among the real ones"
    assert one["recall"] <= 1 / 300 + 1e-9, "it covers only itself"


def test_precision_and_recall_carried_to_more_drawings_than_are_held_out(shared_quickdraw, judge_path):
    drawings = np.load(shared_quickdraw / "snowman.npy").reshape(-1, 28, 28)
    held_out, seen, samples = drawings[:100], drawings[100:400], drawings[400:800]
    read = precision_recall(samples, held_out, judge_path, 0)
    itself = precision_recall_carried(samples, read, 100, held_out, 100, judge_path, 0)
    assert itself == pytest.approx(read), "the same set: nothing to carry"
    carried = precision_recall_carried(samples, read, 100, seen, 300, judge_path, 0)
    assert all(0 < carried[k] <= 1.1 for k in ("precision", "recall"))
    repeated = np.repeat(held_out[:1], 300, 0)
    one = precision_recall_carried(repeated, precision_recall(repeated, held_out, judge_path, 0), 100, seen, 300,
                                   judge_path, 0)
    assert one["recall"] <= 1 / 300 + 1 / 100 + 1e-9, "one drawing covers itself at most"
    with pytest.raises(QuickdrawError, match="at 400 drawings: 300 training drawings"):
        precision_recall_carried(samples, read, 100, seen, 400, judge_path, 0)


def test_the_studys_inception_score_is_the_softmax_over_pooled_features(shared_quickdraw, judge_path):
    from quickdraw_vae.judge import load_judge
    from quickdraw_vae.metrics import STUDY_FID_N, study_figures, subsample
    from quickdraw_vae.data import to_tensor

    real = np.concatenate([np.load(shared_quickdraw / f"{c}.npy")[:150].reshape(-1, 28, 28) for c in ("hand", "yoga")])
    drawn = np.concatenate([np.load(shared_quickdraw / f"{c}.npy")[150:450].reshape(-1, 28, 28) for c in ("hand", "yoga")])
    figures = study_figures(drawn, real, SKETCH, judge_path, seed=0, isc_splits=1)
    # computed here from the judge's pooled features: p(y|x) = softmax(features), IS = exp E[KL(p(y|x) || p(y))]
    shown = subsample(drawn, 300, 0, "drawn")
    with torch.no_grad():
        p = torch.softmax(load_judge(judge_path)[0].features(to_tensor(shown)).double(), 1)
    kl = (p * (p.log() - p.mean(0, keepdim=True).log())).sum(1).mean()
    assert figures["study_is"] == pytest.approx(kl.exp().item(), rel=1e-9)
    # its FID: as many drawings a side as the study's 500 allow (300 real ones here)
    assert figures["fid_500_n"] == min(STUDY_FID_N, 300)
    assert figures["fid_500"] == pytest.approx(fidelity(shown, real, SKETCH, judge_path, 100, 0)["fid"], rel=1e-9)


def test_scoring_on_a_cuda_machine_moves_no_judge_a_stage_holds(shared_quickdraw, judge_path, monkeypatch):
    """On a machine with CUDA, torch-fidelity moves its feature extractor there (`.cuda()`), in place.
    Simulated on the CPU: CUDA reported available, and every move recorded instead of made."""
    from quickdraw_vae.judge import load_judge, predict_proba

    moved = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.nn.Module, "cuda", lambda self, device=None: moved.append(self) or self)
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *a, **k: self)
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self, *a, **k: self)
    judge, _ = load_judge(judge_path)  # as validate and evaluate hold it, for predict_proba
    drawings = np.load(shared_quickdraw / "hand.npy")[:64].reshape(-1, 28, 28)
    fidelity(drawings, drawings, SKETCH, judge_path, 32, 0)
    assert moved, "torch-fidelity moved its extractor to the GPU"
    assert not any(part is judge for module in moved for part in module.modules()), "it moved the stage's judge"
    assert predict_proba(judge, drawings).shape == (64, 5)


def test_scoring_puts_each_batch_on_its_models_device(monkeypatch):
    """A model on a GPU gets its inputs there: simulated by a model that says it is on `cuda` and tensors
    that record where they are sent."""
    from quickdraw_vae import runtime
    from quickdraw_vae.judge import predict_proba
    from quickdraw_vae.losses import elbo_terms, iwae_nll
    from quickdraw_vae.models import VAE, ModelConfig
    from quickdraw_vae.sampling import Sampler, encode_means, reconstruct

    sent = []
    real_to = torch.Tensor.to

    def to(self, *args, **kwargs):
        device = kwargs.get("device", args[0] if args else None)
        if isinstance(device, torch.device):
            sent.append(device.type)
            return self  # nothing really moves on this machine
        return real_to(self, *args, **kwargs)

    from quickdraw_vae import losses

    for where in (runtime, losses):
        monkeypatch.setattr(where, "device_of", lambda module: torch.device("cuda"))
    monkeypatch.setattr(torch.Tensor, "to", to)
    model = VAE(ModelConfig("cnn", latent=4, channels=4, hidden=16, rnn_hidden=8, dropout=0.0)).eval()
    judge = SketchJudge(JudgeConfig(5, width=4)).eval()
    images = np.zeros((3, 28, 28), np.uint8)
    x = torch.zeros(3, 1, 28, 28)
    scoring = {"predict_proba": lambda: predict_proba(judge, images), "elbo_terms": lambda: elbo_terms(model, x, None),
               "iwae_nll": lambda: iwae_nll(model, x, None, k=2), "encode_means": lambda: encode_means(model, x, None),
               "reconstruct": lambda: reconstruct(model, x, None, Sampler("prior", 1.0, "mean", 1.0))}
    for name, score in scoring.items():
        sent.clear()
        score()
        assert sent and set(sent) == {"cuda"}, (name, sent)
