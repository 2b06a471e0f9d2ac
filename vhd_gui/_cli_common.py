"""What every `vhd-annotator` subcommand shares: exit codes, the usage error, option types,
and the settings a command line asks for.

`cli.py` (the parser and the dispatcher) and the `_cli_*` handler modules all import from here
and never from each other, so a handler can be read, imported and tested on its own. Only the
standard library is imported at module level: `--version` and `--help` stay instant.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vhd_gui.config import Settings

EXIT_OK = 0
EXIT_ITEMS_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A usage or configuration problem: the CLI prints its one-line reason and exits 2."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings file (or --config), then the common command-line options on top."""
    from vhd_gui.config import ConfigError, apply_overrides, load_settings

    try:
        return apply_overrides(load_settings(getattr(args, "config", None)), args)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
