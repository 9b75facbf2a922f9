"""A Markdown table of DVC experiments, read through `dvc.api` (`exp_show`, `read`): the
params that vary between them and the validation figures that decide.

    python tools/experiments_table.py --prefix tune- [--metric metrics/train/rnn_cnn.json:validation.neg_elbo ...]

Only validation figures are shown by default: choices are made on validation, test only reports.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from quickdraw_vae.experiments import experiment_metrics, metric

DEFAULT_METRICS = ("metrics/train/rnn_cnn.json:validation.neg_elbo", "metrics/train/cnn_cnn.json:validation.neg_elbo")


def _param_keys(node, prefix="") -> list[str]:
    if isinstance(node, dict):
        return [k for key, value in node.items() for k in _param_keys(value, f"{prefix}{key}.")]
    return [prefix[:-1]]


def table(rows: list[dict], metrics: list[str], params_file: Path = Path("params.yaml")) -> str:
    import yaml

    param_keys = _param_keys(yaml.safe_load(params_file.read_text()))
    varying = [k for k in param_keys if len({repr(r.get(k)) for r in rows}) > 1]
    head = ["experiment", *varying, *(m.replace("metrics/", "").replace(".json:", ": ") for m in metrics)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(rows, key=lambda r: r["Experiment"]):
        cells = [r["Experiment"], *(str(r.get(k)) for k in varying)]
        values = [metric(r, *m.split(":", 1)) for m in metrics]
        cells += [(f"{v:.2f}" if abs(v) >= 10 else f"{v:.4g}") if isinstance(v, float) else str(v) for v in values]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    import dvc.api

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefix", required=True, help="experiment names starting with this")
    ap.add_argument("--metric", action="append", help="metrics-file:key columns (default: both validation -ELBOs)")
    ap.add_argument("--all-commits", action="store_true", help="experiments of every commit, not only of HEAD")
    args = ap.parse_args()
    rows = [r for r in dvc.api.exp_show(num=-1 if args.all_commits else 1)
            if r.get("Experiment") and r["Experiment"].startswith(args.prefix)]
    if not rows:
        print(f"no experiment named {args.prefix}*", file=sys.stderr)
        return 1
    metrics = args.metric or list(DEFAULT_METRICS)
    files = sorted({m.split(":", 1)[0] for m in metrics})
    print(table([{**r, **experiment_metrics(r["rev"], files)} for r in rows], metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
