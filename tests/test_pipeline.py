"""End to end: the whole DAG on tiny settings in a throwaway copy of the repo, driven by DVC itself."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import GIT, REPO, SHARED, STAGES, TINY, TINY_STUDY, sh, tiny_experiment
from quickdraw_vae.params import ALL_MODELS as ALL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory, dvc_cache):
    return tiny_experiment(tmp_path_factory, dvc_cache, "tiny", TINY)


def test_every_stage_runs_and_writes_its_outputs(tiny_repo):
    repo, log = tiny_repo
    for stage in STAGES:  # run here, or restored from the run cache where another test ran the same params
        assert f"Running stage '{stage}'" in log or f"Stage '{stage}' is cached" in log, stage
    for out in ["models/rnn_cnn.pt", "models/cnn_cnn.pt", "models/conditional.pt", "models/judge.pt",
                "data/samples/conditional.npz", "metrics/best.json", "metrics/generation.json",
                "metrics/classifier_eval.json", "metrics/metrics_summary.md", "plots/interpolation.png",
                "plots/reconstructions.png", "plots/loss_comparison.png", "plots/conditional_samples.png",
                "plots/cnn_cnn_loss_components.png", "plots/metrics_comparison.png", "plots/judge_confusion.png"]:
        assert (repo / out).is_file(), out
    with np.load(repo / "data/samples/conditional.npz") as z:
        assert z["images"].dtype == np.uint8 and z["images"].shape == (60, 28, 28)
        assert np.bincount(z["labels"]).tolist() == [12] * 5
    from quickdraw_vae.sampling import load_sampler

    sample = yaml.safe_load((repo / "params.yaml").read_text())["sample"]
    for model in ALL:  # each model's fitted sampler at its own temperature
        own = sample["temperature_by_model"].get(model, sample["temperature"])
        assert load_sampler(repo / f"models/{model}.sampler.pt").temperature == own, model
    assert len({sample["temperature"], *sample["temperature_by_model"].values()}) > 1, "the params tell them apart"
    live = json.loads((repo / "metrics/epochs/cnn_cnn/metrics.json").read_text())
    assert live == {"cnn_cnn": {"epoch": 2, "validation_neg_elbo": live["cnn_cnn"]["validation_neg_elbo"]}}
    curve = (repo / "metrics/epochs/cnn_cnn/plots/metrics/validation/neg_elbo.tsv").read_text().splitlines()
    assert curve[0] == "step\tneg_elbo" and [r.split("\t")[0] for r in curve[1:]] == ["1", "2"]
    assert float(curve[-1].split("\t")[1]) == live["cnn_cnn"]["validation_neg_elbo"]


def test_metrics_have_every_figure(tiny_repo):
    repo, _ = tiny_repo
    report = json.loads((repo / "metrics/train/cnn_cnn.json").read_text())
    assert set(report) >= {"train", "validation"} and "test" not in report, "training never reads test"
    for split in ("train", "validation"):
        assert set(report[split]) >= {"bce", "kld", "neg_elbo"}
    test = json.loads((repo / "metrics/likelihood.json").read_text())
    for model in ("rnn_cnn", "cnn_cnn", "conditional"):
        assert test[model]["iwae_k"] == 4 and test[model]["n"] == 5 * 16
        assert test[model]["neg_elbo"] == pytest.approx(test[model]["bce"] + test[model]["kld"], abs=1e-9)
    judged = json.loads((repo / "metrics/classifier_eval.json").read_text())
    assert set(judged["reconstructions"]) == {"rnn_cnn", "cnn_cnn", "conditional"}
    assert 0 <= judged["reconstructions"]["rnn_cnn"]["accuracy"] <= 1 and "accuracy" in judged["real_test"]
    validation = json.loads((repo / "metrics/validation.json").read_text())
    assert validation["generation"]["n"] == 25 and "conditional" in validation["judge"]  # all 5 x 5 validation drawings
    reference = validation["generation"]["train_reference"]
    assert reference["n"] == 60 and set(reference) == {"n", "rnn_cnn", "cnn_cnn", "conditional"}  # all 60 samples
    held_out_copies = validation["generation"]["copies"]  # the sampler's copy check, on validation drawings
    assert all(0 <= held_out_copies[m]["share_closer"] <= 1 for m in ("rnn_cnn", "cnn_cnn", "conditional"))
    summary = (repo / "metrics/metrics_summary.md").read_text()
    assert "Reconstructions the judge recognises" in summary and "| sketch FID (N) |" in summary
    per_class = json.loads((repo / "metrics/generation.json").read_text())["conditional_per_class"]
    assert set(per_class) == {"rabbit", "yoga", "hand", "snowman", "motorbike"}
    assert all(v["n"] == 12 and v["fid"] >= 0 and 0 <= v["recall"] <= 1 for v in per_class.values())  # 60 samples, 16 test
    copies = json.loads((repo / "metrics/generation.json").read_text())["copies"]
    assert all(0 <= copies[m]["share_closer"] <= 1 for m in ("rnn_cnn", "cnn_cnn", "conditional"))
    assert "## No copies" in summary and (repo / "plots/nearest_neighbours.png").stat().st_size > 1000
    best = json.loads((repo / "metrics/best.json").read_text())
    assert best["best"] in ("rnn_cnn", "cnn_cnn")
    generation = json.loads((repo / "metrics/generation.json").read_text())
    assert generation["n"] == 40
    for model in ("rnn_cnn", "cnn_cnn", "conditional", "conditional_prior", "cnn_cnn_prior", "real_floor"):
        assert {f"{model}.sketch.{m}" for m in ("is", "fid", "kid", "precision", "recall")} <= set(generation)
    shown = json.loads(sh("dvc", "metrics", "show", "--json", cwd=repo).stdout)
    files = {f: v["data"] for f, v in next(iter(shown.values()))["data"].items()}
    assert set(files) == {"metrics/headline.json", *(f"metrics/epochs/{m}/metrics.json" for m in ALL)}
    columns = [f"{k}.{c}" for data in files.values() for k, v in data.items() for c in v]
    assert len(columns) <= 18, "the headline fits a terminal"
    headline = files["metrics/headline.json"]
    assert headline["test_neg_elbo"]["cnn_cnn"] == test["cnn_cnn"]["neg_elbo"]
    assert headline["sketch_recall"]["rnn_cnn"] == generation["rnn_cnn.sketch.recall"]
    assert headline["conditional"]["judge_weakest_class"] == judged["samples"]["conditional"]["min_class_accuracy"]
    detail = json.loads(sh("dvc", "metrics", "show", "--json", "metrics/generation.json", cwd=repo).stdout)
    assert "metrics/generation.json" in json.dumps(detail), "the details are one command away"


def test_nothing_to_do_after_a_run_and_epochs_rerun_only_training_onwards(tiny_repo):
    repo, _ = tiny_repo
    assert "up to date" in sh("dvc", "repro", cwd=repo).stdout.lower()
    params = yaml.safe_load((repo / "params.yaml").read_text())
    original = (repo / "params.yaml").read_text()
    params["train"]["epochs"] = 3
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    try:
        dry = sh("dvc", "repro", "--dry", cwd=repo).stdout
    finally:
        (repo / "params.yaml").write_text(original)
    assert "Running stage 'prepare'" not in dry
    # A dry run lists the stages whose own deps changed; DVC reruns what follows from their new outputs.
    for stage in ("train", "train_conditional"):
        assert f"Running stage '{stage}'" in dry


def _dry_run_with(repo, section, key, value):
    original = (repo / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params[section][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    try:
        return {line.split("'")[1] for line in sh("dvc", "repro", "--dry", cwd=repo).stdout.splitlines()
                if line.startswith("Running stage")}
    finally:
        (repo / "params.yaml").write_text(original)


def test_an_evaluate_param_reruns_only_evaluation_and_data_seed_reruns_the_start(tiny_repo):
    repo, _ = tiny_repo
    assert _dry_run_with(repo, "evaluate", "kid_subset_size", 10) == {"validate", "evaluate"}
    assert _dry_run_with(repo, "evaluate", "iwae_k", 3) == {"evaluate"}
    assert {"prepare"} <= _dry_run_with(repo, "data", "seed", 1)


def _stages_changed_by_editing(repo, module: str) -> set[str]:
    """The stages `dvc status` reports changed after an edit to one package module."""
    path = repo / "src" / "quickdraw_vae" / module
    original = path.read_text()
    path.write_text(original + "\n# an edit\n")
    try:
        return set(json.loads(sh("dvc", "status", "--json", cwd=repo).stdout))
    finally:
        path.write_text(original)


def test_editing_the_models_module_changes_every_stage_that_builds_samples_or_scores_models(tiny_repo):
    repo, _ = tiny_repo
    # not the judge's training: the sketch classifier is no VAE
    assert _stages_changed_by_editing(repo, "models.py") == {"train", "train_conditional", "sample", "validate",
                                                             "evaluate"}


def test_a_forced_rerun_gives_byte_identical_outputs_and_leaves_git_clean(tiny_repo):
    repo, _ = tiny_repo

    def outputs():
        return {p: p.read_bytes() for p in [*sorted((repo / "metrics").rglob("*.json")), *sorted((repo / "models").glob("*.pt"))]}

    sh(*GIT, "add", "-A", cwd=repo)
    sh(*GIT, "commit", "-qm", "run A", cwd=repo)
    before = outputs()
    sh("dvc", "exp", "run", "-f", cwd=repo)
    after = outputs()
    assert before.keys() == after.keys() and len(before) >= 7 + 7
    assert before == after
    # wall-clock timings are no git-tracked output: the same results leave nothing to commit
    assert sh("git", "status", "--porcelain", cwd=repo).stdout == ""


def test_back_to_params_already_run_every_stage_comes_from_the_run_cache(tiny_repo):
    """A: the tiny run; B: the study's profile (every stage reads `profile`: run here, or restored if
    test_study_profile ran it first); A again: every stage restored from the run cache, nothing retrained."""
    repo, _ = tiny_repo
    sh(*GIT, "add", "-A", cwd=repo)
    sh(*GIT, "commit", "-qm", "run A", "--allow-empty", cwd=repo)
    params_a = (repo / "params.yaml").read_text()
    study = sh("dvc", "exp", "run", *[a for k, v in TINY_STUDY.items() for a in ("-S", f"{k}={v}")], cwd=repo).stdout
    assert all(f"Stage '{stage}' is cached" in study or f"Running stage '{stage}'" in study for stage in STAGES)
    assert json.loads((repo / "metrics/train/cnn_cnn.json").read_text())["protocol"]["keep"] == "last"
    (repo / "params.yaml").write_text(params_a)
    again = sh("dvc", "exp", "run", cwd=repo).stdout  # A again
    for stage in STAGES:
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in again, stage
    assert "Running stage" not in again
    assert sh("git", "status", "--porcelain", cwd=repo).stdout == "", "A's outputs, byte for byte"


def test_cli_samples_and_scores_with_pipeline_checkpoints(tiny_repo, tmp_path):
    repo, _ = tiny_repo
    cli = [sys.executable, "-m", "quickdraw_vae.cli"]
    out = tmp_path / "s.npz"
    sh(*cli, "sample", "--model", "models/conditional.pt", "--n", "10", "--label", "snowman", "--seed", "7",
       "--out", out, "--png", tmp_path / "g.png", cwd=repo)
    with np.load(out) as z:
        assert z["images"].shape == (10, 28, 28) and set(z["labels"]) == {3}
    first = out.read_bytes()
    sh(*cli, "sample", "--model", "models/conditional.pt", "--n", "10", "--label", "3", "--seed", "7", "--out", out, cwd=repo)
    assert out.read_bytes() == first, "same seed, same drawings"
    stressed = tmp_path / "stressed.npz"
    sh(*cli, "sample", "--model", "models/conditional.pt", "--n", "10", "--label", "3", "--seed", "7",
       "--class-scale", "2", "--out", stressed, cwd=repo)
    with np.load(out) as z, np.load(stressed) as s:
        assert not np.array_equal(z["images"], s["images"])
    scored = json.loads(sh(*cli, "score", "--model", "models/cnn_cnn.pt", "--data", SHARED / "hand.npy",
                           "--iwae-k", "2", cwd=repo).stdout)
    assert scored["n"] == 800 and scored["neg_elbo"] == pytest.approx(scored["bce"] + scored["kld"], abs=1e-3)
    scored = json.loads(sh(*cli, "score", "--model", "models/conditional.pt", "--data", out, cwd=repo).stdout)
    assert scored["n"] == 10 and scored["iwae_k"] == 100

    rec = tmp_path / "r.npz"
    sh(*cli, "reconstruct", "--model", "models/conditional.pt", "--data", out, "--out", rec, "--pixels", "mean", cwd=repo)
    with np.load(rec) as z, np.load(out) as s:
        assert z["images"].dtype == np.uint8 and z["images"].shape == (10, 28, 28)
        assert (z["labels"] == s["labels"]).all()
    sh(*cli, "reconstruct", "--model", "models/rnn_cnn.pt", "--data", SHARED / "hand.npy", "--out", rec, cwd=repo)
    with np.load(rec) as z:
        assert z["images"].shape == (800, 28, 28) and "labels" not in z.files
    enc = tmp_path / "e.npz"
    sh(*cli, "encode", "--model", "models/cnn_cnn.pt", "--data", out, "--out", enc, cwd=repo)
    with np.load(enc) as z:
        assert z["means"].shape == (10, 4) and z["means"].dtype == np.float32 and len(z["labels"]) == 10


@pytest.mark.parametrize("args, message", [
    (["sample", "--model", "models/conditional.pt", "--n", "5"], "is conditional: give --label or --all-classes"),
    (["sample", "--model", "models/conditional.pt", "--label", "unicorn"], "--label 'unicorn': unknown class"),
    (["sample", "--model", "models/cnn_cnn.pt", "--label", "hand"], "is unconditional"),
    (["sample", "--model", "models/conditional.pt", "--label", "hand", "--class-scale", "-1"], "--class-scale must be >= 0"),
    (["sample", "--model", "dvc.yaml"], "dvc.yaml: not a quickdraw-vae checkpoint"),
    (["score", "--model", "models/conditional.pt", "--data", str(SHARED / "hand.npy")], "need `labels`"),
    (["score", "--model", "models/judge.pt", "--data", str(SHARED / "hand.npy")], "judge.pt: not a quickdraw-vae checkpoint"),
    (["reconstruct", "--model", "models/conditional.pt", "--data", str(SHARED / "hand.npy")], "need `labels`"),
    (["encode", "--model", "models/cnn_cnn.pt", "--data", "dvc.yaml"], "dvc.yaml"),
])
def test_cli_errors_are_one_line(tiny_repo, tmp_path, args, message):
    repo, _ = tiny_repo
    writes = args[0] != "score"
    result = sh(sys.executable, "-m", "quickdraw_vae.cli", *args, *(["--out", tmp_path / "x.npz"] if writes else []),
                cwd=repo, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "x.npz").exists()


def test_offline_plots_page_renders_charts_in_chromium(tiny_repo, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `make test` installs it (Debian package chromium)")
    repo, _ = tiny_repo
    venv = Path(sys.executable).parent.parent
    sh("make", "plots", f"VENV={venv}", "-o", f"{venv}/.installed", f"VEGA_DIR={REPO / '.vega'}",
       f"PLOTS_DIR={tmp_path / 'page'}", cwd=repo)
    page = tmp_path / "page" / "index.html"
    assert '<script src="http' not in page.read_text(), "no script from the network"
    dom = sh(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'c'}",
             "--virtual-time-budget=15000", "--dump-dom", page.as_uri(), cwd=repo).stdout
    rendered = dom.count("<canvas") + dom.count("<svg")
    assert rendered >= 3, "every per-epoch chart is drawn, not left as an empty div"


def test_the_claims_read_an_experiment_through_dvc_api(tiny_repo):
    """collect(): params and headline from exp_show, detail files read at the experiment's
    commit, per-epoch curves from its DVCLive logs."""
    repo, _ = tiny_repo
    script = """
import json, os
from quickdraw_vae.experiments import collect
names = ["tiny"]
os.rename("metrics/likelihood.json", "likelihood.json.away")  # read at the experiment's commit, not here
try:
    runs = collect(names)
finally:
    os.rename("likelihood.json.away", "metrics/likelihood.json")
run = runs[names[0]]
print(json.dumps({"rev": run["metrics"]["rev"], "elbo": run["metrics"]["metrics/likelihood.json:cnn_cnn.neg_elbo"],
                  "curve": run["histories"]["cnn_cnn"]["val_total"]}))
"""
    # the workspace holds the tiny run's outputs (a rerun of the same params gives the same bytes)
    likelihood = json.loads((repo / "metrics/likelihood.json").read_text())
    curve = (repo / "metrics/epochs/cnn_cnn/plots/metrics/validation/neg_elbo.tsv").read_text().splitlines()[1:]
    out = json.loads(sh(sys.executable, "-c", script, cwd=repo).stdout.strip().splitlines()[-1])
    assert out["elbo"] == likelihood["cnn_cnn"]["neg_elbo"]
    assert out["curve"] == [float(line.split("\t")[1]) for line in curve]


def test_editing_the_downloader_changes_only_the_stage_that_downloads(tiny_repo):
    repo, _ = tiny_repo
    assert _stages_changed_by_editing(repo, "download.py") == {"prepare"}
    assert _stages_changed_by_editing(repo, "training.py") == {"train", "train_conditional"}
