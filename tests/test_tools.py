"""Developer tools in tools/: the pages they generate say what produced them."""

import subprocess
import sys

import pytest

from conftest import REPO


def test_results_page_stamps_command_params_revision_machine_and_date(tmp_path):
    source = tmp_path / "summary.md"
    source.write_text("| model | -ELBO |\n|---|---|\n| cnn_cnn | 200.00 |\n")
    out = tmp_path / "results.md"
    run = subprocess.run([sys.executable, REPO / "tools" / "results_page.py", "--source", source, "--out", out,
                          "--command", "dvc exp run -S quick=true"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    page = out.read_text()
    for field in ("- command: `dvc exp run -S quick=true`", "- params: `params.yaml` (sha256 ", "- code revision: ",
                  "- machine: ", " cores, ", "- date: 20"):
        assert field in page, field
    assert page.endswith(source.read_text())


def test_results_page_without_a_run_says_so(tmp_path):
    run = subprocess.run([sys.executable, REPO / "tools" / "results_page.py", "--source", tmp_path / "none.md",
                          "--out", tmp_path / "x.md", "--command", "x"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 1 and "run the pipeline first" in run.stderr and not (tmp_path / "x.md").exists()


def test_sampler_study_scores_every_setting_with_the_experiments_own_params(tmp_path, base_params, shared_quickdraw,
                                                                           monkeypatch):
    import numpy as np
    import torch
    from conftest import write_params

    from quickdraw_vae.data import Pixels, load_split, write_prepared
    from quickdraw_vae.sources import class_drawings
    from quickdraw_vae.judge import save_judge, train_judge
    from quickdraw_vae.models import VAE, ModelConfig, save_checkpoint

    sys.path.insert(0, str(REPO / "tools"))
    import sampler_study

    classes = base_params["data"]["classes"]
    write_prepared(tmp_path / "data/prepared", class_drawings(str(shared_quickdraw), classes, 40, 1, seed=0,
                                                               raw_dir=tmp_path / "raw"), classes, 40, 1, 0.25, 0)
    fit, _ = load_split(tmp_path / "data/prepared/train")
    torch.manual_seed(0)
    model = VAE(ModelConfig("cnn", 4, 4, 16, 8, 0.0, num_classes=5, cond_mode="add"))
    save_checkpoint(tmp_path / "models/conditional.pt", model, classes)
    save_checkpoint(tmp_path / "models/cnn_cnn.pt", VAE(ModelConfig("cnn", 4, 4, 16, 8, 0.0)), classes)
    judge = train_judge(Pixels(fit.images), torch.from_numpy(fit.labels), 5, epochs=1, batch_size=64, lr=1e-3, seed=0)
    save_judge(tmp_path / "models/judge.pt", judge, classes)
    base_params["sample"].update(n=50, gmm_components=2)
    del base_params["sample"]["class_scale"]  # an experiment from before the key: read as the model as trained
    base_params["evaluate"].update(kid_subset_size=10, n=10)
    write_params(tmp_path / "params.yaml", base_params)

    from quickdraw_vae.frontier import Rule, Setting, mean_rows

    settings = [Setting.parse(t) for t in ("0.7:1.0:2", "0.7:3.0:2", "0.7:1.0:2", "0.7:1.0:2:1")]
    (as_trained, scaled, again, mean_pixels), floor = sampler_study.score_experiment(tmp_path, settings)
    assert as_trained == again  # each setting draws with the experiment's own sample.seed
    assert scaled != as_trained and mean_pixels != as_trained
    for scores in (as_trained, scaled, mean_pixels):
        assert 0 <= scores["weakest"] <= scores["judge"] <= 1 and 0 <= scores["copies"] <= 1 and scores["fid"] >= 0
        assert 0 <= scores["precision"] <= 1 and 0 <= scores["recall"] <= 1
    assert 0 < floor["precision"] <= 1 and 0 < floor["recall"] <= 1
    rows = mean_rows([[as_trained, scaled, again, mean_pixels]] * 2)
    page = sampler_study.table(rows, Rule(0, 0, 0, 1).pick(rows), mean_rows([[{"setting": None, **floor}]] * 2)[0])
    assert page.count("\n") == 2 + 4 + 1 and "| real training drawings |" in page
    sampler_study.settings_figure(tmp_path, settings[:2], tmp_path / "f.png", per_class=3)
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # another run's samples from the same seed and labels head the figure: here the same run, so the same drawings
    drawn = []
    monkeypatch.setattr("quickdraw_vae.plots.image_rows", lambda path, rows, names, title: drawn.append((rows, names)))
    sampler_study.settings_figure(tmp_path, settings[:1], tmp_path / "g.png", per_class=3, before=(tmp_path, settings[0]))
    (rows, names), = drawn
    assert names[:2] == [f"rabbit, before: {settings[0].label()}", f"rabbit, after: {settings[0].label()}"]
    assert len(rows) == 2 * 5 and np.array_equal(rows[0], rows[1]) and rows[0].shape == (3, 28, 28)
    (unconditional,), _ = sampler_study.score_experiment(tmp_path, settings[:1], model="cnn_cnn")
    assert unconditional["judge"] is None and 0 <= unconditional["recall"] <= 1
    # in another classifier's feature space: the same drawings, other figures
    other = train_judge(Pixels(fit.images), torch.from_numpy(fit.labels), 5, epochs=1, batch_size=64, lr=1e-3, seed=1,
                        width=4)
    save_judge(tmp_path / "other.pt", other, classes)
    (elsewhere,), other_floor = sampler_study.score_experiment(tmp_path, settings[:1], judge=tmp_path / "other.pt")
    assert other_floor != floor and 0 <= elsewhere["recall"] <= 1  # this untrained model's samples score 0 in both

    # The ceiling: the training drawings' own codes under each pixel mapping and class scale the settings use
    scored, _ = sampler_study.score_experiment(tmp_path, settings[:2], ceiling=True)
    assert scored[:2] == [as_trained, scaled]
    ceiling = scored[2:]
    assert [(r["codes"], r["class_scale"]) for r in ceiling] == [
        (f"training drawings' posterior {kind}", scale) for scale in (1.0, 3.0) for kind in ("means", "draws")]
    assert all(r["setting"] is None and r["sharpen"] == base_params["sample"]["sharpen"] for r in ceiling)
    codes, labels = sampler_study.training_codes(sampler_study.load_experiment(tmp_path), 50, 0)
    assert codes["posterior means"].shape == codes["posterior draws"].shape == (50, 4) and labels.shape == (50,)
    assert not torch.equal(codes["posterior means"], codes["posterior draws"])
    page = sampler_study.table(mean_rows([scored] * 2), None, mean_rows([[{"setting": None, **floor}]] * 2)[0])
    assert page.count("(no sampler) |") == 4

    # Carried to another N: the figures read at the validation drawings' N unchanged, beside their carried values
    (carried,), carried_floor = sampler_study.score_experiment(tmp_path, settings[:1], at_n=40)
    assert {k: carried[k] for k in as_trained} == as_trained
    assert {k: carried_floor[k] for k in floor} == floor
    assert set(carried) - set(as_trained) == set(carried_floor) - set(floor) == {"precision_at_n", "recall_at_n"}
    page = sampler_study.table(mean_rows([[carried]] * 2), None, mean_rows([[{"setting": None, **carried_floor}]] * 2)[0], 40)
    assert "precision at N 40 | recall at N 40 |" in page and all(line.count("|") == 13 for line in page.splitlines())


def test_cost_curve_grows_valid_drawings_from_real_ones_and_writes_its_table_between_markers(tmp_path, shared_quickdraw):
    import numpy as np

    sys.path.insert(0, str(REPO / "tools"))
    import cost_curve

    from quickdraw_vae.sources import LocalClassFile

    cost_curve.synthesize(shared_quickdraw, 1200, tmp_path / "a", chunk=500)
    cost_curve.synthesize(shared_quickdraw, 1200, tmp_path / "b", chunk=500)
    for name in cost_curve.CLASSES:
        file = LocalClassFile(tmp_path / "a" / f"{name}.npy")  # Google's format, header and size checked
        assert file.n_rows == 1200
        drawn = np.load(tmp_path / "a" / f"{name}.npy")
        assert (drawn.reshape(-1, 784).max(1) > 0).all(), "every drawing has strokes"
        assert np.array_equal(drawn, np.load(tmp_path / "b" / f"{name}.npy")), "seeded"
        real = {r.tobytes() for r in np.load(shared_quickdraw / f"{name}.npy")}
        assert sum(r.tobytes() in real for r in drawn) < 600, "shifted, mirrored, mixed: mostly new"
    assert abs(cost_curve.growth([1, 10, 100], [2.0, 20.0, 200.0]) - 1.0) < 1e-9
    assert abs(cost_curve.extrapolate([1, 10, 100], [3.0, 3.0, 3.0], 10**6) - 3.0) < 1e-9
    doc = tmp_path / "performance.md"
    doc.write_text(f"# P\n\n{cost_curve.MARKERS[0]}\nold\n{cost_curve.MARKERS[1]}\n\n## After\n")
    cost_curve.write_section(doc, f"{cost_curve.MARKERS[0]}\nnew\n{cost_curve.MARKERS[1]}")
    assert doc.read_text() == f"# P\n\n{cost_curve.MARKERS[0]}\nnew\n{cost_curve.MARKERS[1]}\n\n## After\n"


def test_seed_verdict_pairs_the_seeds_and_says_which_target_is_met(tmp_path):
    import json

    def run(folder, recall, precision, seed_shift):
        generation = {f"{m}.sketch.{k}": v for m in ("conditional", "cnn_cnn", "rnn_cnn", "real_floor")
                      for k, v in (("precision", precision), ("recall", recall + seed_shift), ("fid", 10.0))}
        generation["copies"] = {m: {"share_closer": 0.05} for m in ("conditional", "cnn_cnn", "rnn_cnn")}
        generation["conditional_per_class"] = {"hand": {"precision": precision, "recall": recall}}
        judged = {"samples": {"conditional": {"accuracy": 0.96, "min_class_accuracy": 0.93,
                                              "per_class": {"hand": {"accuracy": 0.93}}}}}
        likelihood = {m: {"neg_elbo": 200.0 + seed_shift, "iwae_nll": 190.0} for m in ("cnn_cnn", "conditional")}
        (folder / "metrics").mkdir(parents=True)
        for name, data in (("generation", generation), ("classifier_eval", judged), ("likelihood", likelihood)):
            (folder / "metrics" / f"{name}.json").write_text(json.dumps(data))
        return folder

    before = [run(tmp_path / "b" / f"s{s}", 0.70, 0.81, s / 100) for s in range(3)]
    after = [run(tmp_path / "a" / f"s{s}", 0.82, 0.86, s / 100) for s in range(3)]
    out = tmp_path / "verdict.md"
    done = subprocess.run([sys.executable, REPO / "tools" / "seed_verdict.py", "--before", *before, "--after", *after,
                           "--out", out], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = {line.split(" | ")[0].strip("| "): line for line in out.read_text().splitlines() if line.startswith("| ")}
    assert rows["conditional recall"].endswith("| >= 0.8 | yes |") and "+0.12" in rows["conditional recall"]
    assert rows["conditional precision"].endswith("| >= 0.85 | yes |")
    assert rows["its weakest class"].endswith("| >= 0.92 | yes |")
    assert "| hand | 0.700 | 0.820 |" in out.read_text()
    missing = subprocess.run([sys.executable, REPO / "tools" / "seed_verdict.py", "--before", tmp_path / "none",
                              tmp_path / "none2", "--after", *after[:2]], cwd=REPO, capture_output=True, text=True)
    assert missing.returncode == 1 and "generation.json: cannot read it" in missing.stderr


def test_seed_runs_clone_with_the_seed_in_every_seed_param_and_one_shared_cache(tmp_path):
    import yaml

    sys.path.insert(0, str(REPO / "tools"))
    import seed_runs

    seed_runs.prepare(tmp_path / "s7", tmp_path / "cache", [("data.source", "../shared/quickdraw"),
                                                            ("sample.temperature", 0.9)], 7)
    params = yaml.safe_load((tmp_path / "s7" / "params.yaml").read_text())
    assert params["train"]["seed"] == params["sample"]["seed"] == params["evaluate"]["seed"] == 7
    assert params["judge"]["seed"] == 0, "the judge is the ruler: fixed"
    assert params["sample"]["temperature"] == 0.9 and params["data"]["source"] == str((REPO.parent / "shared/quickdraw").resolve())
    assert str(tmp_path / "cache") in (tmp_path / "s7" / ".dvc" / "config.local").read_text()
    import pytest

    with pytest.raises(SystemExit, match="no key sample.temprature"):
        seed_runs.apply(params, "sample.temprature", 1.0)


def test_sampler_study_reads_a_shift_as_figure_and_amount_and_refuses_the_rest():
    sys.path.insert(0, str(REPO / "tools"))
    import argparse

    import sampler_study

    assert sampler_study._shift("recall=-0.0235") == ("recall", -0.0235)
    for bad in ("recall", "fid=1", "recall=low"):
        with pytest.raises(argparse.ArgumentTypeError, match="FIGURE=AMOUNT"):
            sampler_study._shift(bad)
    run = subprocess.run([sys.executable, "tools/sampler_study.py", "--workspace", "x", "--setting", "1:1:20",
                          "--in-spread"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 2 and "give both" in run.stderr
    run = subprocess.run([sys.executable, "tools/sampler_study.py", "--workspace", "x", "--setting", "1:1:20",
                          "--widest", "--in-spread"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 2 and "one run has no spread" in run.stderr
