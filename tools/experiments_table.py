"""A Markdown table of DVC experiments, read through `dvc.api.exp_show`: the params that vary
between them and the validation figures that decide.

    python tools/experiments_table.py --prefix tune- [--metric metrics/train/rnn_cnn.json:validation.neg_elbo ...]

Only validation figures are shown by default: choices are made on validation, test only reports.
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_METRICS = ("metrics/train/rnn_cnn.json:validation.neg_elbo", "metrics/train/cnn_cnn.json:validation.neg_elbo")


def table(rows: list[dict], metrics: list[str]) -> str:
    param_keys = [k for k in rows[0] if ":" not in k and "." in k]
    varying = [k for k in param_keys if len({repr(r.get(k)) for r in rows}) > 1]
    head = ["experiment", *varying, *(m.replace("metrics/", "").replace(".json:", ": ") for m in metrics)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(rows, key=lambda r: r["Experiment"]):
        cells = [r["Experiment"], *(str(r.get(k)) for k in varying)]
        cells += [f"{r[m]:.2f}" if isinstance(r.get(m), float) else str(r.get(m)) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    import dvc.api

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefix", required=True, help="experiment names starting with this")
    ap.add_argument("--metric", action="append", help="metrics-file:key columns (default: both validation -ELBOs)")
    args = ap.parse_args()
    rows = [r for r in dvc.api.exp_show() if (r.get("Experiment") or "").startswith(args.prefix)]
    if not rows:
        print(f"no experiment named {args.prefix}*", file=sys.stderr)
        return 1
    print(table(rows, args.metric or list(DEFAULT_METRICS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
