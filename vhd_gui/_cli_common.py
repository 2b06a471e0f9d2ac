"""What every `vhd-annotator` subcommand shares: exit codes, the usage error, option types,
and the settings a command line asks for.

`cli.py` (the parser and the dispatcher) and the `_cli_*` handler modules all import from here
and never from each other, so a handler can be read, imported and tested on its own. Only the
standard library is imported at module level: `--version` and `--help` stay instant.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vhd_gui.config import Settings
    from vhd_gui.store import Store

EXIT_OK = 0
EXIT_ITEMS_FAILED = 1
EXIT_USAGE = 2  # also: a store that is damaged, read-only where a write is needed, or not a store


class UsageError(Exception):
    """A usage or configuration problem: the CLI prints its one-line reason and exits 2."""


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


def reviewer_from_args(args: argparse.Namespace) -> str:
    """Who the human decisions a command records are from: ``--reviewer``, else the settings
    file's ``reviewer``, else the system user name. A name is a label, not a login."""
    from vhd_gui.config import ConfigError, check_reviewer, load_settings

    try:
        if getattr(args, "reviewer", None):
            return check_reviewer(args.reviewer, "--reviewer")
        return load_settings(getattr(args, "config", None)).resolved_reviewer()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def store_from_args(args: argparse.Namespace, *, required: bool = True) -> str | None:
    """The store a command works on: ``--store``, else the settings file's ``store``; without
    either, a usage error when ``required`` (else None: the command has a default of its own)."""
    if getattr(args, "store", None):
        return str(args.store)
    from vhd_gui.config import ConfigError, load_settings

    try:
        configured = load_settings(getattr(args, "config", None)).store
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if configured:
        return configured
    if required:
        raise UsageError("no store: give --store FILE|postgresql://HOST/DB, or set store = \"...\" in the settings file")
    return None


def open_store(path: str, *, root: str | None = None, create: bool = False, write: bool = False) -> Store:
    """The store at ``--store path`` for a command, or a UsageError with the one-line reason.

    Without ``write`` a store that cannot be written (a read-only medium) opens read-only;
    with it, such a store is refused. ``create`` makes a new store (and a missing
    ``.vhd-annotator`` folder inside an existing project folder). Warnings from opening (a
    daily backup that could not be written) go to standard error. A ``postgresql://`` URL
    opens the store in that database (its credentials come from libpq: ``~/.pgpass``,
    ``PGPASSWORD``, ``PGSERVICE``).
    """
    from vhd_gui.store import STORE_DIR_NAME
    from vhd_gui.store_api import is_server_url
    from vhd_gui.store_api import open_store as open_any

    if is_server_url(path):
        from vhd_gui.store_pg import display_url, url_password

        if url_password(path):
            print(
                "warning: the store URL holds a password, which other users of this machine can see (ps, shell history);"
                " put it in ~/.pgpass or PGPASSWORD instead",
                file=sys.stderr,
            )
        return opened_store(lambda: open_any(path, root=root, create=create, read_only=None), f"the store {display_url(path)}")
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--store {path} is a folder; give the store file (e.g. FOLDER/{STORE_DIR_NAME}/annotations.sqlite)")
    if not create and not target.exists():
        raise UsageError(f"no annotation store at {path}")
    if create and target.parent.name == STORE_DIR_NAME and target.parent.parent.is_dir():
        try:
            target.parent.mkdir(exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--store {path}: cannot make {target.parent}: {exc.strerror or exc}") from None
    if create and not target.parent.is_dir():
        raise UsageError(f"--store {path}: folder {target.parent} does not exist")
    return opened_store(lambda: open_any(target, root=root, create=create, read_only=False if write else None), f"the store {path}")


def opened_store(opener: Callable[[], Store], what: str) -> Store:
    """Run ``opener`` for a command: a store problem becomes one usage line (exit 2), and the
    warnings of opening (a daily backup that could not be written) go to standard error."""
    from vhd_gui.store import StoreError

    try:
        store = opener()
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot open {what}: {exc.strerror or exc}") from None
    for warning in store.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return store
