"""Stage plumbing: what every stage script (and the CLI) shares: its command-line paths, its one-line
errors and exit code, its wall-time record."""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import QuickdrawError


def stage_parser(description: str | None, data: bool = True) -> argparse.ArgumentParser:
    """--params, --data (the prepared splits) and --out (the root of models/, metrics/, plots/)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--params", default="params.yaml")
    if data:
        ap.add_argument("--data", type=Path, default=Path("data/prepared"))
    ap.add_argument("--out", type=Path, default=Path("."), help="root under which models/, metrics/, plots/ go")
    return ap


def run_main(main, argv=None, timing_name: str | None = None) -> int:
    """Run a stage or CLI entry point: a QuickdrawError becomes one line on stderr and exit code 2.

    With `timing_name`, a successful run also records its wall time in `timings/stages/<name>.json`
    (git-ignored, not a DVC output) for `make bench`: `seconds` in `main`, and `startup_seconds`
    before it (the interpreter and the imports: PyTorch alone takes ~2 s).
    """
    import sys
    import time

    started = time.perf_counter()
    startup = _seconds_since_process_start()
    try:
        code = main(argv)
    except QuickdrawError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if code:  # a stage that ran itself again (under torchrun) hands on its exit code
        return code
    if timing_name:
        from .files import write_json

        write_json(f"timings/stages/{timing_name}.json", {"seconds": round(time.perf_counter() - started, 2),
                                                          "startup_seconds": startup})
    return 0


def _seconds_since_process_start() -> float | None:
    """Linux only (None elsewhere): /proc gives the process's start in clock ticks since boot."""
    import os

    try:
        with open("/proc/self/stat") as f:
            # Field 22 (starttime); the command name in field 2 may hold spaces, so count from its ")".
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError):
        return None


def stage_name(script: str) -> str:
    """`train` for `stages/train.py`: the name `dvc repro` shows."""
    from pathlib import Path

    return Path(script).stem
