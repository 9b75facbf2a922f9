"""The one exception users see: stages and the CLI print its message as a single line and exit 2."""


class QuickdrawError(Exception):
    """A problem with the user's input (file, param, checkpoint) rather than a bug in our code."""
