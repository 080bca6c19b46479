"""The root of finsent's user-facing errors: the CLI prints these as one clear line (no traceback),
because they name what to fix (a path, a setting), not a bug. Imports nothing."""


class FinsentError(Exception):
    """An error whose message tells the user what to change."""


class ConfigError(FinsentError):
    """A `FINSENT_*` setting is invalid: the message names the variable, the value and what is
    accepted, on one line (`pipeline/config.py`)."""
