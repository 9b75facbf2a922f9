"""What every stage script shares: its command-line paths."""

from __future__ import annotations

import argparse
from pathlib import Path


def stage_parser(description: str | None, data: bool = True) -> argparse.ArgumentParser:
    """--params, --data (the prepared splits) and --out (the root of models/, metrics/, plots/)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--params", default="params.yaml")
    if data:
        ap.add_argument("--data", type=Path, default=Path("data/prepared"))
    ap.add_argument("--out", type=Path, default=Path("."), help="root under which models/, metrics/, plots/ go")
    return ap
