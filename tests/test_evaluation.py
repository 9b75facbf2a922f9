"""Sample-quality metrics must punish collapse: a model that draws each class's average drawing
is perfectly recognisable, so only FID/KID can tell it from a model that draws varied drawings."""


import numpy as np
import pytest
import torch

from quickdraw_vae.data import to_tensor, validation_split
from quickdraw_vae.sources import load_splits
from quickdraw_vae.judge import judge_report, save_judge, train_judge
from quickdraw_vae.metrics import SKETCH, fidelity
from quickdraw_vae.models import ModelConfig
from quickdraw_vae.params import TrainParams
from quickdraw_vae.sampling import (
    Sampler,
    balanced_labels,
    encode_means,
    fit_gmm,
    generate,
)
from quickdraw_vae.training import fit

CLASSES = ["rabbit", "yoga", "hand", "snowman", "motorbike"]
pytestmark = pytest.mark.slow


def test_collapsed_model_scores_worse_fid_than_a_trained_one(shared_quickdraw, tmp_path):
    train, test, _ = load_splits(str(shared_quickdraw), CLASSES, 400, 100, seed=0, raw_dir=tmp_path)
    x, y = to_tensor(train.images), torch.from_numpy(train.labels)
    judge = train_judge(x, y, 5, epochs=3, batch_size=64, lr=1e-3, seed=0)
    assert judge_report(judge, test.images, test.labels, CLASSES)[0]["accuracy"] > 0.7
    save_judge(tmp_path / "judge.pt", judge, CLASSES)

    tp = TrainParams(epochs=8, batch_size=32, lr=2e-3, lr_by_model={}, schedule="cosine", weight_decay=1e-4,
                     kl_warmup_epochs=2, hflip=False, keep="best", seed=0)
    cfg = ModelConfig("cnn", latent=8, channels=8, hidden=64, rnn_hidden=8, dropout=0.0, num_classes=5, cond_mode="add")
    fit_idx, val_idx = validation_split(train.labels, 0.1, 0)
    model = fit("conditional", cfg, tp, x[fit_idx], y[fit_idx], x[val_idx], y[val_idx], torch.device("cpu")).model
    gmm = fit_gmm(encode_means(model, x, y), train.labels, components=3, seed=0)
    labels = balanced_labels(200, 5)
    samples = generate(model, Sampler("gmm", 0.8, "sharpened", 2.0, gmm), 200, labels, seed=0)

    means = np.stack([train.images[train.labels == c].mean(0) for c in range(5)]).round().astype(np.uint8)
    collapsed = means[labels.numpy()]
    real = test.images[np.random.default_rng(0).choice(len(test.images), 200, replace=False)]
    judged = lambda images: fidelity(images, real, SKETCH, str(tmp_path / "judge.pt"), 100, 0)  # noqa: E731
    trained, averaged = judged(samples), judged(collapsed)
    assert averaged["fid"] > trained["fid"]
    assert averaged["kid"] > trained["kid"]


def test_sample_stage_checks_every_checkpoint_before_writing_any_samples(tmp_path, base_params):
    from conftest import run_stage, write_params

    from quickdraw_vae.models import VAE, save_checkpoint

    models = tmp_path / "models"
    for name, encoder in (("rnn_cnn", "rnn"), ("cnn_cnn", "cnn")):
        save_checkpoint(models / f"{name}.pt", VAE(ModelConfig(encoder, 4, 4, 16, 8, 0.0)), ["a", "b"])
    (models / "conditional.pt").write_bytes(b"not a checkpoint")
    result = run_stage("sample", "--params", write_params(tmp_path / "params.yaml", base_params),
                       "--data", tmp_path / "prepared", "--out", tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {models / 'conditional.pt'}: not a quickdraw-vae checkpoint "
                                                  "(UnpicklingError)"]
    assert not (tmp_path / "data").exists() and not list(tmp_path.glob("plots/*"))
