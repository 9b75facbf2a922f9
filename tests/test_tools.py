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
