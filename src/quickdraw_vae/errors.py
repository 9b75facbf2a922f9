"""The one exception users see: its message is printed as a single line and the process exits 2."""


class QuickdrawError(Exception):
    """A problem with the user's input (file, param, checkpoint) rather than a bug in our code."""


def run_main(main, argv=None, timing_name: str | None = None) -> int:
    """Run a stage or CLI entry point: a QuickdrawError becomes one line on stderr and exit code 2.

    With `timing_name`, a successful run also records its wall time in `timings/stages/<name>.json`
    (git-ignored, not a DVC output) for `make bench`.
    """
    import sys
    import time

    started = time.perf_counter()
    try:
        main(argv)
    except QuickdrawError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if timing_name:
        from .files import write_json

        write_json(f"timings/stages/{timing_name}.json", {"seconds": round(time.perf_counter() - started, 2)})
    return 0


def stage_name(script: str) -> str:
    """`train` for `stages/train.py`: the name `dvc repro` shows."""
    from pathlib import Path

    return Path(script).stem
