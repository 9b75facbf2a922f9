"""Per-epoch training figures through DVCLive, one directory per model (`metrics/epochs/<name>/`).

DVCLive writes them as training goes: `metrics.json` holds the epoch reached and its validation
-ELBO under the model's name (`rnn_cnn.epoch`: short, distinct `dvc exp show` columns), read while
a queued run trains; `plots/metrics/<split>/<term>.tsv`
hold the curves that `dvc plots show`, DVC's editor views and the report's figures draw.
`dvcyaml=None`: dvc.yaml declares these files, as it declares every other output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .errors import QuickdrawError
from .files import write_json

# In-memory history column -> DVCLive metric name.
CURVES = {"train_total": "train/neg_elbo", "train_bce": "train/bce", "train_kld": "train/kld",
          "val_total": "validation/neg_elbo", "val_bce": "validation/bce", "val_kld": "validation/kld"}


class EpochLog:
    """Called with each epoch's history row; a resumed training replays its saved rows first, so the
    log of an interrupted run ends identical to an uninterrupted one."""

    def __init__(self, directory: str | Path, name: str):
        from dvclive import Live

        class NamedSummary(Live):
            def make_summary(self):
                # DVCLive adds a top-level `step`; in three files it collides, and `dvc exp show` then
                # names each column by its whole path. The summary carries the epoch under the model's name.
                write_json(self.metrics_file, self.summary)

        self.name = name
        self.live = NamedSummary(str(directory), dvcyaml=None, save_dvc_exp=False, report=None)

    def __call__(self, row: dict) -> None:
        self.live.step = row["epoch"]
        for column, name in CURVES.items():
            self.live.log_metric(name, row[column])
        # What `dvc exp show` gets; the curves stay in their files.
        self.live.summary = {self.name: {"epoch": row["epoch"], "validation_neg_elbo": row["val_total"]}}
        self.live.next_step()


def epoch_log_dir(out_root: str | Path, name: str) -> Path:
    """Where the pipeline keeps a model's EpochLog."""
    return Path(out_root) / "metrics" / "epochs" / name


def read_history(directory: str | Path, read_text: Callable[[Path], str] = Path.read_text) -> dict[str, np.ndarray]:
    """An EpochLog directory's curves as in-memory history columns (`epoch`, `val_total`, ...);
    `read_text` may read them from elsewhere (an experiment's commit)."""
    out = {}
    for column, name in CURVES.items():
        path = Path(directory) / "plots" / "metrics" / f"{name}.tsv"
        try:
            rows = [line.split("\t") for line in read_text(path).splitlines()[1:] if line]
            out["epoch"] = np.array([float(step) for step, _ in rows])
            out[column] = np.array([float(value) for _, value in rows])
        except (OSError, ValueError) as e:
            raise QuickdrawError(f"{path}: not a per-epoch log ({type(e).__name__}); rerun the training stage") from None
    return out
