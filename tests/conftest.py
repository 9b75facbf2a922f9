import copy
import os
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


@pytest.fixture(scope="session")
def shared_quickdraw() -> Path:
    if not (SHARED / "rabbit.npy").exists():
        pytest.skip("../shared/quickdraw is not beside the repo")
    return SHARED


@pytest.fixture
def base_params() -> dict:
    return copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text()))


def write_params(path: Path, params: dict) -> Path:
    path.write_text(yaml.safe_dump(params))
    return path


def run_stage(name: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    # cwd: a test's own folder, so the stage's wall-time record (timings/stages/) never lands in the repo
    return subprocess.run([sys.executable, str(REPO / "stages" / f"{name}.py"), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=600)
