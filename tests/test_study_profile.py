"""The `study` profile end to end on tiny settings: the study's layers and protocol through every stage,
and every claim of the ledger read from what such a run wrote."""

import json
import sys

import pytest

from conftest import STAGES, TINY, TINY_STUDY, sh, tiny_experiment
from quickdraw_vae.params import ALL_MODELS as ALL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_study_repo(tmp_path_factory, dvc_cache):
    return tiny_experiment(tmp_path_factory, dvc_cache, "tiny-study", {**TINY, **TINY_STUDY})


def test_the_study_profile_runs_end_to_end_as_the_study_trained(tiny_study_repo):
    from quickdraw_vae.models import load_checkpoint
    from quickdraw_vae.sampling import load_sampler

    repo, log = tiny_study_repo
    for stage in STAGES:  # run here, or restored where test_pipeline's A-B-A test ran the same params first
        assert f"Running stage '{stage}'" in log or f"Stage '{stage}' is cached" in log, stage
    for m in ALL:
        model, _ = load_checkpoint(repo / f"models/{m}.pt")
        assert model.cfg.architecture == "study"
        report = json.loads((repo / f"metrics/train/{m}.json").read_text())
        lr = {"rnn_cnn": 0.01}.get(m, 0.001)
        assert report["protocol"] == {"lr": lr, "schedule": "constant", "kl_warmup_epochs": 0, "batch_size": 128,
                                      "weight_decay": 0.0, "keep": "last",
                                      "perceptual_weight": 0.0}
        assert report["kept_epoch"] == report["epochs"]
        # the study's "final loss": the last line of the training curve DVCLive logged
        curve = (repo / f"metrics/epochs/{m}/plots/metrics/train/neg_elbo.tsv").read_text().splitlines()
        assert float(curve[-1].split("\t")[1]) == report["final_train"]["neg_elbo"]
    assert load_sampler(repo / "models/conditional.sampler.pt").strategy == "mixed"
    generation = json.loads((repo / "metrics/generation.json").read_text())
    for s in ("rnn_cnn", "conditional_prior", "real_floor"):
        assert {f"{s}.sketch.{k}" for k in ("study_is", "fid_500", "precision", "recall")} <= set(generation)
    assert generation["cnn_cnn.sketch.fid_500_n"] == 60  # all 60 samples: fewer than the study's 500
    cas = json.loads((repo / "metrics/classifier_eval.json").read_text())["accuracy_score"]
    assert cas["n_train"] == 60 and 0 <= cas["samples"]["accuracy"] <= 1 and 0 <= cas["real"]["accuracy"] <= 1
    summary = (repo / "metrics/metrics_summary.md").read_text()
    assert "## The study's own definitions" in summary and "## Classification accuracy score" in summary


def test_every_claim_reads_its_figures_from_the_metrics_a_run_wrote(tiny_study_repo):
    repo, _ = tiny_study_repo
    script = """
import json
from pathlib import Path
from quickdraw_vae.claims import BLOCKS, CLAIMS, DECISION_BLOCK, appendix, before_after, decide, figures_section, ledger, plot
from quickdraw_vae.experiments import collect
run = collect(["tiny-study"])["tiny-study"]
blocks = {b: [run] for b in [*BLOCKS, DECISION_BLOCK]}
decided = {p: decide(CLAIMS, blocks, p) for p in ("study", "ours")}
page = ledger(CLAIMS, decided, {"study": ["tiny-study"]}, blocks) + figures_section(blocks) + before_after([run], [run], ([0], [1]))
page += appendix(blocks)
plot(blocks, Path("claims_curves.png"))
print(json.dumps({"page": page, "figures": {p: [[r["a"], r["b"]] for r in rows] for p, rows in decided.items()}}))
"""
    out = json.loads(sh(sys.executable, "-c", script, cwd=repo).stdout.strip().splitlines()[-1])
    from quickdraw_vae.claims import CLAIMS

    assert all(len(rows) == len(CLAIMS) for rows in out["figures"].values())
    words = [c.words for c in CLAIMS]
    study = dict(zip(words, out["figures"]["study"]))
    train = {m: json.loads((repo / f"metrics/train/{m}.json").read_text()) for m in ("rnn_cnn", "cnn_cnn")}
    assert study["CNN-CNN reaches a lower final loss than RNN-CNN"] == [[train["rnn_cnn"]["final_train"]["neg_elbo"]],
                                                                        [train["cnn_cnn"]["final_train"]["neg_elbo"]]]
    judged = json.loads((repo / "metrics/classifier_eval.json").read_text())
    snowman = judged["real_test"]["per_class_accuracy"]["snowman"]
    best_other = max(v for c, v in judged["real_test"]["per_class_accuracy"].items() if c != "snowman")
    assert study["snowman is the most recognisable class, on real drawings"] == [[snowman], [best_other]]
    # the study's grids (N(0, I), mean pixels) are what its "clearer samples" judged; ours, the sampler's
    clearer = "CNN-CNN produces clearer samples"
    assert study[clearer][0] == [judged["samples"]["cnn_cnn_prior"]["mean_confidence"]]
    assert dict(zip(words, out["figures"]["ours"]))[clearer][0] == [judged["samples"]["cnn_cnn"]["mean_confidence"]]
    rows = [line for line in out["page"].splitlines() if line.startswith("| ") and "**" in line]
    assert len(rows) == len(CLAIMS)
    assert "snowman is the most recognisable class, on real drawings" in out["page"]
    assert "| judge on conditional samples |" in out["page"] and "## Every figure, every block" in out["page"]
    # each model's last-epoch figures under its own name, and every seed's curve in the figure
    assert all(f"| {m} final_train.neg_elbo |" in out["page"] and f"| {m}.neg_elbo |" in out["page"] for m in ALL)
    assert (repo / "claims_curves.png").stat().st_size > 20_000
