"""What every `vhd-annotator` subcommand shares: exit codes, the usage error, option types,
and the settings a command line asks for.

`cli.py` (the parser and the dispatcher) and the `_cli_*` handler modules all import from here
and never from each other, so a handler can be read, imported and tested on its own. Only the
standard library is imported at module level: `--version` and `--help` stay instant.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
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


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An option type: a whole number from ``low`` to ``high`` (a typo of 10000 rounds is refused at once)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low:,}: {value:,}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:,}: {value:,}")
        return value

    parse.__name__ = "whole number"  # argparse names the type in its messages
    return parse


def float_between(low: float, high: float, *, low_inclusive: bool = True) -> Callable[[str], float]:
    """An option type: a finite number from ``low`` (or above it) to ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number: {text}")
        if value < low or (value == low and not low_inclusive):
            raise argparse.ArgumentTypeError(f"must be {'at least' if low_inclusive else 'more than'} {low:g}: {text}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}: {text}")
        return value

    parse.__name__ = "number"
    return parse


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings file (or --config), then the common command-line options on top."""
    from vhd_gui.config import ConfigError, apply_overrides, load_settings

    try:
        return apply_overrides(load_settings(getattr(args, "config", None)), args)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
