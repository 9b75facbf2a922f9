"""Developer tools in tools/: the pages they generate say what produced them."""

import subprocess
import sys

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


def test_sampler_study_scores_every_setting_with_the_experiments_own_params(tmp_path, base_params, shared_quickdraw):
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
    (unconditional,), _ = sampler_study.score_experiment(tmp_path, settings[:1], model="cnn_cnn")
    assert unconditional["judge"] is None and 0 <= unconditional["recall"] <= 1


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
