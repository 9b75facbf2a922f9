import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

# One thread: PyTorch's default of two collapses when another process holds a core.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "quickdraw"
# dvc.yaml's stages in the order a run reaches them: what an end-to-end test expects DVC to run or restore.
STAGES = list(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])


@pytest.fixture(scope="session")
def shared_quickdraw() -> Path:
    if not (SHARED / "rabbit.npy").exists():
        pytest.skip("../shared/quickdraw is not beside the repo")
    return SHARED


@pytest.fixture
def base_params() -> dict:
    """The committed params at one PyTorch thread: tests run beside each other (pytest-xdist), and two
    threads collapse when another process holds a core."""
    params = copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text()))
    params["runtime"]["threads"] = 1
    # Tests write params.yaml into folders of their own, where the relative path would find no list.
    params["data"]["categories"] = str(REPO / params["data"]["categories"])
    return params


def write_params(path: Path, params: dict) -> Path:
    path.write_text(yaml.safe_dump(params))
    return path


def run_stage(name: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    # cwd: a test's own folder, so the stage's wall-time record (timings/stages/) never lands in the repo
    return subprocess.run([sys.executable, str(REPO / "stages" / f"{name}.py"), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=600)


# A pipeline small enough to run end to end in about a minute (the slow tests).
TINY = {
    "data.train_per_class": 48, "data.test_per_class": 16, "runtime.threads": 1,
    "train.epochs": 2, "train.batch_size": 32, "evaluate.iwae_k": 4,
    "sample.n": 60, "sample.gmm_components": 2, "judge.epochs": 1,
    "evaluate.n": 40, "evaluate.kid_subset_size": 20,
    **{f"models.{m}.{k}": v for m in ("rnn_cnn", "cnn_cnn")
       for k, v in {"latent": 4, "channels": 4, "fine_channels": 4, "hidden": 16, "rnn_hidden": 8}.items()},
}
# The study's profile at the same tiny sizes: its layers, optimiser and schedule, two epochs.
TINY_STUDY = {
    "profile": "study", "study_profile.train.epochs": 2, "study_profile.conditional.epochs": 1,
    **{f"study_profile.models.{m}.{k}": v for m in ("rnn_cnn", "cnn_cnn") for k, v in {"latent": 4, "channels": 4}.items()},
    "study_profile.models.rnn_cnn.rnn_hidden": 8,
}


def sh(*cmd, cwd, check=True, env=None):
    env = {**(env or os.environ), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


GIT = ("git", "-c", "user.email=t@t", "-c", "user.name=t")


@pytest.fixture(scope="session")
def dvc_cache(tmp_path_factory) -> Path:
    """One DVC cache for every test repository of a session, across pytest-xdist's workers too: a run of
    params some test ran already comes back from DVC's run cache in seconds, as in one team's repository."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker has its own folder under the session's
        root = root.parent
    (root / "dvc-cache").mkdir(exist_ok=True)
    return root / "dvc-cache"


def copy_repo(dest: Path, cache: Path | None = None) -> Path:
    """The project's own files (what a clone has), committed in a fresh git repo; `cache`: its DVC cache."""
    files = sh("git", "ls-files", "-co", "--exclude-standard", cwd=REPO).stdout.split()
    skip = ("dvc.lock", "metrics/", "timings/")
    for f in files:
        if not f.startswith(skip) and (REPO / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, dest / f)
    sh("git", "init", "-q", cwd=dest)
    sh(*GIT, "add", "-A", cwd=dest)
    sh(*GIT, "commit", "-qm", "copy", cwd=dest)
    if cache is not None:
        sh("dvc", "cache", "dir", "--local", str(cache), cwd=dest)
    return dest


def tiny_experiment(tmp_path_factory, cache: Path, name: str, settings: dict) -> tuple[Path, str]:
    """A copy of the repo that has run experiment `name` on the shared drawings; its log."""
    if not (SHARED / "rabbit.npy").exists():
        pytest.skip("../shared/quickdraw is not beside the repo")
    repo = copy_repo(tmp_path_factory.mktemp(name), cache)
    sets = [a for k, v in {"data.source": str(SHARED), **settings}.items() for a in ("-S", f"{k}={v}")]
    return repo, sh("dvc", "exp", "run", "--name", name, *sets, cwd=repo).stdout
