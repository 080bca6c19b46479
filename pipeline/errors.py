"""The root of finsent's user-facing errors: the CLI prints these as one clear line (no traceback),
because they name what to fix (a path, a setting), not a bug. Imports nothing."""


class FinsentError(Exception):
    """An error whose message tells the user what to change."""
