"""The one exception users see: its message is printed as a single line and the process exits 2."""


class QuickdrawError(Exception):
    """A problem with the user's input (file, param, checkpoint) rather than a bug in our code."""


def run_main(main, argv=None) -> int:
    """Run a stage or CLI entry point: a QuickdrawError becomes one line on stderr and exit code 2."""
    import sys

    try:
        main(argv)
    except QuickdrawError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
