import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO, write_params

from quickdraw_vae.data import to_tensor, validation_split
from quickdraw_vae.errors import QuickdrawError
from quickdraw_vae.models import VAE, ModelConfig, load_checkpoint
from quickdraw_vae.params import TrainParams
from quickdraw_vae.runtime import run_side_by_side
from quickdraw_vae.selection import pick_best
from quickdraw_vae.training import fit, warm_start

TP = TrainParams(epochs=3, batch_size=16, lr=2e-3, lr_by_model={}, schedule="cosine", weight_decay=1e-4,
                 kl_warmup_epochs=1, hflip=True, keep="best", seed=0)
CFG = ModelConfig("cnn", latent=4, channels=4, hidden=16, rnn_hidden=8, dropout=0.1)


@pytest.fixture(scope="module")
def tiny(shared_quickdraw):
    images = np.concatenate([np.load(shared_quickdraw / f"{c}.npy")[:40].reshape(-1, 28, 28)
                             for c in ("rabbit", "snowman")])
    labels = np.repeat([0, 1], 40)
    return to_tensor(images), torch.from_numpy(labels), labels


def fit_killed_in_the_second_epoch(monkeypatch, *args, **kwargs) -> None:
    """`fit(*args, **kwargs)` stopped as a kill would stop it: after the first epoch's resume state is saved."""
    import quickdraw_vae.training as training

    real_elbo_terms, calls = training.elbo_terms, []

    def stop_in_the_second_epoch(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_elbo_terms(*a, **k)

    monkeypatch.setattr(training, "elbo_terms", stop_in_the_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit(*args, **kwargs)
    monkeypatch.setattr(training, "elbo_terms", real_elbo_terms)


def test_training_lowers_validation_loss_and_is_deterministic(tiny):
    x, y, labels = tiny
    fit_idx, val_idx = validation_split(labels, 0.2, 0)
    assert len(val_idx) == 16 and not set(fit_idx) & set(val_idx)
    runs = [fit("m", CFG, TP, x[fit_idx], y[fit_idx], x[val_idx], y[val_idx], torch.device("cpu")) for _ in range(2)]
    history = runs[0].history
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["val_total"] < history[0]["val_total"]
    assert runs[0].history == runs[1].history, "same params, same CPU: same numbers"
    best = min(history, key=lambda h: h["val_total"])["epoch"]
    assert runs[0].best_epoch == best


def test_nan_loss_stops_with_model_and_epoch(tiny):
    x, y, labels = tiny
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(QuickdrawError, match=r"m: training loss became nan at epoch 1"):
        fit("m", CFG, TP, bad, y, x[:8], y[:8], torch.device("cpu"))


def test_pick_best_uses_validation_only():
    reports = {"rnn_cnn": {"validation": {"neg_elbo": 210.0}, "train": {"neg_elbo": 1.0}},
               "cnn_cnn": {"validation": {"neg_elbo": 200.0}, "train": {"neg_elbo": 999.0}}}
    assert pick_best(reports)["best"] == "cnn_cnn"


def _train_stage(tmp_path, base_params, shared_quickdraw, epochs):
    base_params["data"].update(source=str(shared_quickdraw), train_per_class=32, test_per_class=8)
    base_params["evaluate"].update(n=40, kid_subset_size=20)
    base_params["train"].update(epochs=epochs, batch_size=16)
    base_params["models"]["rnn_cnn"].update(latent=4, channels=4, fine_channels=4, hidden=16, rnn_hidden=8)
    base_params["perceptual"]["weight"] = 0.0  # the stage without its classifier (the term resumes: a test below)
    params = write_params(tmp_path / "params.yaml", base_params)
    prep = subprocess.run([sys.executable, REPO / "stages/prepare.py", "--params", params, "--out", tmp_path / "prepared",
                           "--raw", tmp_path / "raw", "--metrics", tmp_path / "d.json", "--preview", tmp_path / "p.png"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert prep.returncode == 0, prep.stderr
    return [sys.executable, REPO / "stages/train.py", "--model", "rnn_cnn", "--params", params,
            "--data", tmp_path / "prepared", "--resume-dir", tmp_path / "resume"]


def test_killed_training_resumes_and_matches_an_uninterrupted_run(tmp_path, base_params, shared_quickdraw):
    cmd = _train_stage(tmp_path, base_params, shared_quickdraw, epochs=12)
    clean = subprocess.run([*cmd, "--out", tmp_path / "clean"], capture_output=True, text=True, cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    state = tmp_path / "resume" / "rnn_cnn.pt"
    assert not state.exists(), "the resume state is removed after a successful run"

    proc = subprocess.Popen([*map(str, cmd), "--out", str(tmp_path / "resumed")], cwd=tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not (state.exists() and torch.load(state, weights_only=True)["state"]["epoch"] >= 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state.exists(), "training checkpointed at least one epoch before the kill"
    epochs_done = torch.load(state, weights_only=True)["state"]["epoch"]
    assert 3 <= epochs_done < 12, "killed mid-training"
    assert not (tmp_path / "resumed" / "models" / "rnn_cnn.pt").exists(), "nothing half-written"

    again = subprocess.run([*cmd, "--out", tmp_path / "resumed"], capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    read = lambda root: json.loads((root / "metrics" / "train" / "rnn_cnn.json").read_text())  # noqa: E731
    assert read(tmp_path / "resumed") == read(tmp_path / "clean")
    logs = {run: {f.relative_to(tmp_path / run): f.read_bytes() for f in (tmp_path / run / "metrics/epochs").rglob("*")
                  if f.is_file()} for run in ("clean", "resumed")}
    assert len(logs["clean"]) == 7 and logs["resumed"] == logs["clean"], "the resumed log replays the killed run's epochs"
    model, payload = load_checkpoint(tmp_path / "resumed" / "models" / "rnn_cnn.pt")
    assert model.cfg.encoder == "rnn" and payload["classes"] == base_params["data"]["classes"]


def test_two_models_side_by_side_match_one_after_the_other(tmp_path, base_params, shared_quickdraw):
    base_params["models"]["cnn_cnn"].update(latent=4, channels=4, fine_channels=4, hidden=16)
    cmd = _train_stage(tmp_path, base_params, shared_quickdraw, epochs=2)
    del cmd[2:4]  # no --model: both
    params = tmp_path / "params.yaml"
    # with the perceptual term: its classifier is read in each worker (a parent that ran PyTorch cannot fork)
    runs = {}
    for threads in (1, 2):  # 2: two worker processes at 1 thread each
        set_threads = yaml.safe_load(params.read_text())
        set_threads["runtime"]["threads"] = threads
        set_threads["perceptual"].update(weight=1.0, width=2, epochs=1)
        params.write_text(yaml.safe_dump(set_threads))
        if threads == 1:
            perceptual = subprocess.run([sys.executable, REPO / "stages/train_perceptual.py", "--params", params,
                                         "--data", tmp_path / "prepared", "--out", tmp_path],
                                        capture_output=True, text=True, cwd=tmp_path)
            assert perceptual.returncode == 0, perceptual.stderr
        out = tmp_path / f"threads{threads}"
        run = subprocess.run([*cmd, "--out", out, "--models", tmp_path / "models"], capture_output=True, text=True,
                             cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        runs[threads] = {m: json.loads((out / "metrics/train" / f"{m}.json").read_text()) for m in ("rnn_cnn", "cnn_cnn")}
        assert runs[threads]["cnn_cnn"]["protocol"]["perceptual_weight"] == 1.0
        assert json.loads((out / "timings/cnn_cnn.json").read_text())["threads"] == 1
    assert runs[1] == runs[2]


def test_side_by_side_keeps_order_and_raises_the_first_failure():
    import math

    assert run_side_by_side(math.sqrt, [(4.0,), (9.0,)], workers=2) == [2.0, 3.0]
    with pytest.raises(ValueError, match="math domain error"):
        run_side_by_side(math.sqrt, [(4.0,), (-1.0,)], workers=2)


def test_warm_started_add_model_keeps_the_encoder_and_counts_the_class_mean_twice(tiny):
    x, y, _ = tiny
    trained = fit("cnn_cnn", CFG, TP, x[:60], None, x[60:], None, torch.device("cpu")).model
    cond = VAE(ModelConfig("cnn", latent=4, channels=4, hidden=16, rnn_hidden=8, dropout=0.1, num_classes=2,
                           cond_mode="add")).eval()
    warm_start(cond, trained, x, y)
    codes = trained.encode(x)[0]
    means = torch.stack([codes[y == c].mean(0) for c in (0, 1)])
    assert torch.allclose(cond.embedding.weight, means)
    # The encoder is the unconditional one; the decoder gets its codes plus the class mean.
    assert torch.equal(cond.encode(x[60:])[0], trained.encode(x[60:])[0])
    z, labels = torch.randn(5, 4), torch.tensor([0, 1, 0, 1, 1])
    assert torch.allclose(cond.decode(z, labels), trained.decode(z + means[labels]), atol=1e-6)
    with pytest.raises(QuickdrawError, match="without labelled drawings"):
        warm_start(cond, trained)
    wider = ModelConfig("cnn", latent=4, channels=8, hidden=16, rnn_hidden=8, dropout=0.1, num_classes=2, cond_mode="add")
    with pytest.raises(QuickdrawError, match="cannot warm-start: architectures differ .size mismatch for encoder"):
        fit("conditional", wider, replace(TP, kl_warmup_epochs=0), x[:60], y[:60], x[60:], y[60:], torch.device("cpu"), init_from=trained)


def test_bench_prints_rates_efficiency_side_by_side_and_the_extrapolation_as_its_last_json_line(
        tmp_path, base_params, shared_quickdraw):
    for m in ("rnn_cnn", "cnn_cnn"):
        base_params["models"][m].update(latent=4, channels=4, fine_channels=4, hidden=16, rnn_hidden=8)
    base_params["train"].update(batch_size=16)
    params = write_params(tmp_path / "params.yaml", base_params)  # one thread: no side-by-side run (tested below)
    run = subprocess.run([sys.executable, REPO / "tools" / "bench.py", "--params", params, "--source", shared_quickdraw,
                          "--train-per-class", "16", "--epochs", "1"], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "leaked semaphore" not in run.stderr  # the side-by-side workers exit cleanly
    result = json.loads(run.stdout.strip().splitlines()[-1])
    for m in ("rnn_cnn", "cnn_cnn"):
        figures = result["models"][m]
        assert figures["train_drawings_per_s"] > 0 and figures["eval_drawings_per_s"] > 0
        real, bare = figures["train_drawings_per_s"], figures["bare_drawings_per_s"]
        # Both rates are printed to 0.1 drawings/s, the ratio from the unrounded ones.
        rounding = 0.05 / real + 0.05 / bare
        assert figures["loop_efficiency"] == pytest.approx(real / bare, rel=rounding, abs=2e-3)
        assert figures["iwae_drawings_per_s"] > 0
    assert result["side_by_side"] == {"threads_each": 1, "models": {}}
    assert result["judge_train_drawings_per_s"] > 0
    estimate = result["study_minutes_estimate"]
    assert result["perceptual_weight"] > 0 and result["perceptual_train_drawings_per_s"] > 0
    scaled = estimate["train"] + estimate["train_conditional"] + estimate["train_judge"] + estimate["train_perceptual"]
    assert estimate["train"] > 0 and estimate["total"] == pytest.approx(scaled, abs=0.02)
    # No pipeline ran in tmp_path: nothing to take the other stages' times from.
    assert result["stage_seconds"] == {} and result["pipeline_seconds"] is None
    assert estimate["other_stages"] is None and estimate["startup"] is None


def test_bench_extrapolation_scales_the_data_bound_stages_and_adds_the_others_as_last_run(base_params, tmp_path):
    sys.path.insert(0, str(REPO / "tools"))
    from bench import STUDY_TEST, STUDY_TRAIN, study_estimate

    from quickdraw_vae.params import load_params

    p = load_params(write_params(tmp_path / "params.yaml", base_params))
    rates = {"train_drawings_per_s": 1000.0, "eval_drawings_per_s": 5000.0, "iwae_drawings_per_s": 50.0}
    slower = dict(rates, train_drawings_per_s=500.0)
    stages = {"train": {"seconds": 100.0, "startup_seconds": 1.5}, "sample": {"seconds": 3.0, "startup_seconds": 2.0},
              "evaluate": {"seconds": 9.0, "startup_seconds": 2.5}}
    minutes = study_estimate(p, {"cnn_cnn": rates, "rnn_cnn": slower}, {"cnn_cnn": rates, "rnn_cnn": slower}, 2000.0,
                             stages)
    fit_n = STUDY_TRAIN * (1 - p.data.validation_fraction)
    scoring = (STUDY_TRAIN + STUDY_TEST) / 5000 + STUDY_TEST / 50
    # Side by side, the slower model sets the pace; the train stage's own last-run time is not added.
    assert minutes["train"] == pytest.approx((fit_n * p.train.epochs / 500 + scoring) / 60, abs=0.01)
    assert minutes["train_judge"] == pytest.approx(STUDY_TRAIN * p.judge.epochs / 2000 / 60, abs=0.01)
    assert minutes["other_stages"] == pytest.approx(12 / 60, abs=0.01)
    assert minutes["startup"] == pytest.approx(6 / 60, abs=0.01)
    assert minutes["total"] == pytest.approx(sum(v for k, v in minutes.items() if k != "total"), abs=0.03)


def test_a_stage_records_its_time_in_main_and_its_start_up(tmp_path, monkeypatch):
    from quickdraw_vae.stage import run_main

    monkeypatch.chdir(tmp_path)
    assert run_main(lambda argv: time.sleep(0.05), [], timing_name="demo") == 0
    timing = json.loads((tmp_path / "timings" / "stages" / "demo.json").read_text())
    assert timing["seconds"] >= 0.05
    if sys.platform == "linux":  # this test process started (and imported PyTorch) well before
        assert timing["startup_seconds"] > 0.1


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA"))])
def test_an_interrupted_fit_resumes_to_the_uninterrupted_result(tiny, tmp_path, monkeypatch, device):
    x, y, labels = tiny
    fit_idx, val_idx = validation_split(labels, 0.2, 0)
    args = ("m", CFG, TP, x[fit_idx], y[fit_idx], x[val_idx], y[val_idx], torch.device(device))
    clean = fit(*args)
    fit_killed_in_the_second_epoch(monkeypatch, *args, resume_dir=tmp_path)
    saved = torch.load(tmp_path / "m.pt", weights_only=True)
    (torch_rng, _, cuda_rng), = saved["rng"]  # one process: one set of streams
    assert saved["state"]["epoch"] == 1 and torch_rng.device.type == "cpu"
    assert (cuda_rng is not None) == (device == "cuda")
    resumed = fit(*args, resume_dir=tmp_path)
    assert resumed.history == clean.history and resumed.best_epoch == clean.best_epoch


def test_the_epoch_log_holds_every_curve_and_a_summary_of_the_epoch_reached(tiny, tmp_path):
    from quickdraw_vae.tracking import EpochLog, read_history

    x, y, labels = tiny
    fit_idx, val_idx = validation_split(labels, 0.2, 0)
    result = fit("m", CFG, TP, x[fit_idx], y[fit_idx], x[val_idx], y[val_idx], torch.device("cpu"),
                 on_epoch=EpochLog(tmp_path / "m", "m"))
    summary = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert summary == {"m": {"epoch": 3, "validation_neg_elbo": result.history[-1]["val_total"]}}
    curves = read_history(tmp_path / "m")
    for column in ("train_total", "train_bce", "train_kld", "val_total", "val_bce", "val_kld"):
        assert curves[column].tolist() == [h[column] for h in result.history]
    assert curves["epoch"].tolist() == [1, 2, 3]
    (tmp_path / "m" / "plots/metrics/train/kld.tsv").write_text("step\tkld\n1\tnot-a-number\n")
    with pytest.raises(QuickdrawError, match="kld.tsv: not a per-epoch log"):
        read_history(tmp_path / "m")


def test_keep_last_returns_the_last_epochs_weights_and_a_constant_schedule_keeps_the_rate(tiny, tmp_path):
    x, y, labels = tiny
    fit_idx, val_idx = validation_split(labels, 0.2, 0)
    args = (x[fit_idx], y[fit_idx], x[val_idx], y[val_idx], torch.device("cpu"))
    study = replace(TP, schedule="constant", keep="last", lr=5e-2)  # a rate high enough to overshoot
    last = fit("m", CFG, study, *args, resume_dir=tmp_path / "last")
    saved = torch.load(tmp_path / "last" / "m.pt", weights_only=True)  # the state after the last epoch
    assert all(torch.equal(v, saved["model"][k]) for k, v in last.model.state_dict().items())
    assert saved["optimizer"]["param_groups"][0]["lr"] == 5e-2
    best = fit("m", CFG, replace(study, keep="best"), *args, resume_dir=tmp_path / "best")
    assert best.history == last.history and best.best_epoch == last.best_epoch
    same = best.best_epoch == study.epochs  # the best epoch's weights are the last ones only if it is the last
    assert torch.equal(best.model.head[0].weight, last.model.head[0].weight) == same
    fit("m", CFG, TP, *args, resume_dir=tmp_path / "cosine")
    assert torch.load(tmp_path / "cosine" / "m.pt", weights_only=True)["optimizer"]["param_groups"][0]["lr"] < 1e-6


def test_a_random_class_embedding_stays_where_pytorch_put_it(tiny):
    x, y, _ = tiny
    torch.manual_seed(0)
    trained = VAE(CFG).eval()
    torch.manual_seed(1)
    cond = VAE(replace(CFG, num_classes=2, cond_mode="add"))
    initial = cond.embedding.weight.detach().clone()
    warm_start(cond, trained, x, y, embedding_init="random")
    assert torch.equal(cond.embedding.weight, initial)
    assert torch.equal(cond.decoder.net[0].weight, trained.decoder.net[0].weight)
    warm_start(cond, trained, x, y)  # class means: the embedding moves
    assert not torch.equal(cond.embedding.weight, initial)


@pytest.fixture(scope="module")
def perceptual_net(tiny, tmp_path_factory):
    """A small classifier of the tiny drawings, saved as `train_perceptual` saves one."""
    from quickdraw_vae.judge import save_judge, train_judge

    x, y, _ = tiny
    path = tmp_path_factory.mktemp("perceptual") / "perceptual.pt"
    save_judge(path, train_judge(x, y, 2, epochs=1, batch_size=16, lr=1e-3, seed=1, width=2), ["rabbit", "snowman"],
               kind="perceptual")
    return path


def test_the_feature_distance_is_zero_for_the_drawing_itself_and_grows_as_the_drawing_blurs(tiny, perceptual_net):
    from quickdraw_vae.judge import load_judge
    from quickdraw_vae.losses import feature_distance

    x = tiny[0][:8].clamp(1e-4, 1 - 1e-4)
    net = load_judge(perceptual_net)[0]
    sharpen = 5.0
    exact = torch.logit(x) / sharpen  # logits whose pixels sigmoid(5 x logits) are the drawing
    blurred = torch.nn.functional.avg_pool2d(x, 5, 1, 2).clamp(1e-4, 1 - 1e-4)
    for layers in ("last", "blocks"):
        read = partial(net.feature_layers, layers=layers)
        itself = feature_distance(read, exact, x, sharpen)
        assert itself.abs().max() < 1e-6
        assert (feature_distance(read, torch.logit(blurred) / sharpen, x, sharpen) > 100 * itself.abs().max()).all()


def test_the_block_distance_adds_each_pooled_block_at_the_last_layers_scale(tiny, perceptual_net):
    from quickdraw_vae.judge import load_judge
    from quickdraw_vae.losses import feature_distance

    x = tiny[0][:8]
    net = load_judge(perceptual_net)[0].eval()
    blurred = torch.logit(torch.nn.functional.avg_pool2d(x, 5, 1, 2).clamp(1e-4, 1 - 1e-4))
    last = net.feature_layers(x)
    blocks = net.feature_layers(x, layers="blocks")
    assert len(last) == 1 and torch.equal(last[0], net.features(x))
    assert len(blocks) == 3 and torch.equal(blocks[-1], last[0])
    assert [b.shape[1] for b in blocks[:2]] == [net.cfg.width * 14 * 14, 2 * net.cfg.width * 7 * 7]
    # "last" is the plain squared distance of the features; "blocks" adds each block's, scaled to that size
    plain = (net.features(torch.sigmoid(blurred)) - net.features(x)).pow(2).sum(1)
    assert torch.equal(feature_distance(net.feature_layers, blurred, x, 1.0), plain)
    shown = net.feature_layers(torch.sigmoid(blurred), layers="blocks")
    by_hand = plain + sum((a - b).pow(2).mean(1) * last[0].shape[1] for a, b in zip(shown[:2], blocks[:2]))
    torch.testing.assert_close(feature_distance(partial(net.feature_layers, layers="blocks"), blurred, x, 1.0), by_hand)


def test_the_perceptual_term_changes_training_resumes_exactly_and_leaves_its_classifier_untouched(
        tiny, perceptual_net, tmp_path, monkeypatch):
    from quickdraw_vae.training import Perceptual

    x, y, labels = tiny
    fit_idx, val_idx = validation_split(labels, 0.2, 0)
    args = ("m", CFG, TP, x[fit_idx], None, x[val_idx], None, torch.device("cpu"))
    before = perceptual_net.read_bytes()
    term = Perceptual(perceptual_net, 1.0, 5.0)
    plain, perceptual = fit(*args), fit(*args, perceptual=term)
    assert perceptual.history != plain.history
    assert perceptual_net.read_bytes() == before
    # the resume state of one run is never taken for the other's
    fit_killed_in_the_second_epoch(monkeypatch, *args, resume_dir=tmp_path, perceptual=term)
    assert fit(*args, resume_dir=tmp_path, perceptual=replace(term, weight=2.0)).history[0] != perceptual.history[0]
    (tmp_path / "m.pt").unlink(missing_ok=True)
    fit_killed_in_the_second_epoch(monkeypatch, *args, resume_dir=tmp_path, perceptual=term)
    blocks = fit(*args, resume_dir=tmp_path, perceptual=replace(term, layers="blocks")).history
    assert blocks[0] != perceptual.history[0] and blocks != perceptual.history
    (tmp_path / "m.pt").unlink(missing_ok=True)
    fit_killed_in_the_second_epoch(monkeypatch, *args, resume_dir=tmp_path, perceptual=term)
    assert fit(*args, resume_dir=tmp_path, perceptual=term).history == perceptual.history


def test_the_term_params_ask_for_carries_every_perceptual_key_and_none_at_weight_zero(base_params, tmp_path):
    from quickdraw_vae.params import parse_params
    from quickdraw_vae.training import Perceptual, perceptual_from_params

    base_params["perceptual"].update(weight=0.5, sharpen=3.0, layers="blocks")
    pp = parse_params(base_params).perceptual
    assert perceptual_from_params(pp, tmp_path / "p.pt") == Perceptual(tmp_path / "p.pt", 0.5, 3.0, "blocks")
    base_params["perceptual"]["weight"] = 0.0
    assert perceptual_from_params(parse_params(base_params).perceptual, tmp_path / "p.pt") is None


def test_a_perceptual_term_without_its_classifier_names_the_file_and_the_stage(tiny, tmp_path):
    from quickdraw_vae.judge import save_judge
    from quickdraw_vae.training import Perceptual

    x, _, _ = tiny
    missing = tmp_path / "perceptual.pt"
    with pytest.raises(QuickdrawError, match=r"perceptual\.pt: no such classifier checkpoint \(run `dvc repro train_perceptual`\)"):
        fit("m", CFG, TP, x[:16], None, x[16:24], None, torch.device("cpu"), perceptual=Perceptual(missing, 1.0, 5.0))
    save_judge(missing, None, ["rabbit"], kind="perceptual")  # what train_perceptual writes at weight 0
    with pytest.raises(QuickdrawError, match=r"perceptual\.pt: not a sketch-classifier checkpoint with weights"):
        fit("m", CFG, TP, x[:16], None, x[16:24], None, torch.device("cpu"), perceptual=Perceptual(missing, 1.0, 5.0))
