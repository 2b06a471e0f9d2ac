"""`vhd-annotator store check STORE`, `store recover STORE OUT`, `store copy SRC DST` and `store project STORE`.

``check`` runs SQLite's full integrity check without changing the file and prints the
problems it finds, what the store holds and its backups: exit 0 when sound, 2 when damaged
or not a store. ``recover`` copies every readable row into a new store OUT (never over an
existing file) and says, table by table, what could not be read: exit 0 when nothing was
lost, 1 when something was, 2 when nothing could be recovered. ``project`` shows the team
settings kept in the store (overlap, resolution, adjudicator, blind review) and how far the
reviewers got, and changes the settings it is given (all in one transaction). ``copy SRC DST``
moves a whole store between an SQLite file and a PostgreSQL database (either way). A
``postgresql://`` store has no file to recover or back up: ``check`` runs what a client can check of it, ``recover``
says it is for SQLite only.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from vhd_gui._cli_common import EXIT_ITEMS_FAILED, EXIT_OK, EXIT_USAGE, UsageError, open_store


def run_store(args: argparse.Namespace) -> int:
    from vhd_gui.store_api import is_server_url

    if args.store_command == "check":
        return _check_server(args) if is_server_url(args.store) else _check(args)
    if args.store_command == "copy":
        return _copy(args)
    if args.store_command == "recover":
        if is_server_url(args.store) or is_server_url(args.out):
            raise UsageError(
                "store recover reads a damaged SQLite file page by page (SQLite only); a PostgreSQL store is restored"
                " with the server's own tools (pg_dump backups, point-in-time recovery)"
            )
        return _recover(args)
    if args.store_command == "project":
        return _project(args)
    raise AssertionError(args.store_command)


def _age(when: datetime) -> str:
    hours = (datetime.now(UTC) - when).total_seconds() / 3600
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


def _check(args: argparse.Namespace) -> int:
    from vhd_gui.store import StoreError, damage_message
    from vhd_gui.store_recovery import check_store

    try:
        health = check_store(args.store)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    held = ", ".join(f"{n} {table}" for table, n in health.rows.items())
    for problem in health.problems:
        print(f"problem: {problem}")
    if health.backups:
        newest = health.backups[0]
        print(f"backups: {len(health.backups)}, newest {newest.path} ({newest.reason}, {_age(newest.taken_at)})")
    else:
        print("backups: none yet")
    if health.sound:
        print(f"{health.path}: sound (SQLite integrity check ok); schema {health.schema_version}; {held}")
        return EXIT_OK
    detail = f"integrity check: {len(health.problems)} problem{'s' if len(health.problems) != 1 else ''}"
    newest_path = health.backups[0].path if health.backups else None
    print(f"vhd-annotator store: {damage_message(health.path, detail, newest_path)}", file=sys.stderr)
    return EXIT_USAGE


def _copy(args: argparse.Namespace) -> int:
    """``store copy SRC DST``: every row, ids kept; DST must hold no items (nothing is merged)."""
    import contextlib
    from pathlib import Path

    from vhd_gui.store import StoreError
    from vhd_gui.store_api import is_server_url, open_store
    from vhd_gui.store_copy import copy_store

    made: Path | None = None
    if not is_server_url(args.dest):
        target = Path(args.dest)
        if target.is_dir():
            raise UsageError(f"{target} is a folder; give the new store file (e.g. {target}/annotations.sqlite)")
        if not target.parent.is_dir():
            raise UsageError(f"folder {target.parent} does not exist")
        made = None if target.exists() else target
    try:
        src = open_store(args.store, create=False, read_only=True)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    try:
        try:
            dst = open_store(args.dest, create=True, read_only=False, daily_backup=False)
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        try:
            report = copy_store(src, dst)
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        finally:
            dst.close()
    except BaseException:
        if made is not None:  # a new file this command made: nothing of it is worth keeping
            for leftover in (made, made.with_name(made.name + "-wal"), made.with_name(made.name + "-shm")):
                with contextlib.suppress(OSError):
                    leftover.unlink()
        raise
    finally:
        src.close()
    print(f"copied {report.source} into {report.dest}:")
    for table, n in report.rows.items():
        print(f"  {table:<10} {n} rows")
    for table, n in report.skipped.items():
        print(f"  {table:<10} not copied ({n} rows): claims are leases of the runs debating items now, not data")
    return EXIT_OK


def _check_server(args: argparse.Namespace) -> int:
    """What a client can check of a PostgreSQL store: it opens (read-only), its schema, what it
    holds, and every item's summary against its history. Pages and indexes are the server's
    (``pg_amcheck``); backups are ``pg_dump``'s."""
    from vhd_gui.store import StoreError
    from vhd_gui.store_api import open_store
    from vhd_gui.store_pg import PgStore

    try:
        store = open_store(args.store, create=False, read_only=True)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    try:
        assert isinstance(store, PgStore)
        held = ", ".join(f"{n} {table}" for table, n in store.table_counts().items())
        wrong = store.summary_mismatches()
        version = store.schema_version
    finally:
        store.close()
    print("backups: not kept by vhd-annotator for a server store (use pg_dump; pages are checked by pg_amcheck)")
    if not wrong:
        print(f"{store.location}: sound (every item's summary agrees with its history); schema {version}; {held}")
        return EXIT_OK
    for rel in wrong:
        print(f"problem: the summary of {rel} does not agree with its history")
    print(f"vhd-annotator store: {store.location}: {len(wrong)} item summaries out of step", file=sys.stderr)
    return EXIT_USAGE


def _recover(args: argparse.Namespace) -> int:
    from vhd_gui.store import StoreError
    from vhd_gui.store_recovery import METHOD_CLI, recover_store

    try:
        report = recover_store(args.store, args.out, method=args.method)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {exc.filename or args.out}: {exc.strerror or exc}") from None
    how = "SQLite's .recover (the sqlite3 program)" if report.method == METHOD_CLI else "reading each table row by row"
    print(f"recovered {report.source} into {report.out} by {how}:")
    for t in report.tables.values():
        line = f"  {t.table:<10} {t.copied} rows"
        lost = []
        if t.missing:
            lost.append(f"at least {t.missing} lost")
        if t.orphans:
            lost.append(f"{t.orphans} dropped because the row they belong to was lost")
        if t.unreadable:
            lost.append(f"{t.unreadable} unreadable")
        print(line + (f" ({'; '.join(lost)})" if lost else ""))
    if report.unplaced:
        print(f"  {report.unplaced} rows were found in pages whose table could not be told, and were not copied")
    print(f"the damaged store {report.source} is left as it was; check {report.out} and put it in its place yourself")
    if report.complete:
        print("nothing was lost")
        return EXIT_OK
    print("some rows were lost (see above): the newest backup may hold them", file=sys.stderr)
    return EXIT_ITEMS_FAILED


def _project(args: argparse.Namespace) -> int:
    from vhd_gui.config import ConfigError, check_reviewer
    from vhd_gui.store import StoreError

    changes = {name: getattr(args, name) for name in ("overlap", "resolution", "adjudicator", "blind") if getattr(args, name) is not None}
    if changes.get("adjudicator"):
        try:
            check_reviewer(changes["adjudicator"], "--adjudicator")
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    store = open_store(args.store, write=bool(changes))
    try:
        with store.named_errors():
            before = store.project_settings()
            try:
                settings = store.set_project_settings(**changes) if changes else before
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            progress = store.review_progress()
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    if args.json:
        out = {
            "store": str(store.path),
            "overlap": settings.overlap,
            "resolution": settings.resolution,
            "adjudicator": settings.adjudicator,
            "blind": settings.blind,
            "items": progress.total,
            "complete": progress.complete,
            "partial": progress.partial,
            "disputed": progress.disputed,
            "reviewers": progress.by_reviewer,
        }
        print(json.dumps(out, ensure_ascii=False))
        return EXIT_OK
    changed = [
        f"{name} {_shown(getattr(before, name))} -> {_shown(getattr(settings, name))}"
        for name in ("overlap", "resolution", "adjudicator", "blind")
        if getattr(before, name) != getattr(settings, name)
    ]
    if changes:
        print(f"changed: {'; '.join(changed)}" if changed else "nothing changed: the store already had these settings")
    print(f"project settings of {store.path}:")
    print(f"  overlap      {settings.overlap} (people who should decide each item)")
    print(f"  resolution   {settings.resolution}")
    print(f"  adjudicator  {settings.adjudicator or '(none)'}")
    print(f"  blind        {_shown(settings.blind)}")
    people = "person" if settings.overlap == 1 else "people"
    print(
        f"progress: {progress.complete} of {progress.total} items decided by {settings.overlap} {people},"
        f" {progress.partial} by fewer, {progress.disputed} disputed (need adjudication)"
    )
    if progress.by_reviewer:
        print("reviewers: " + ", ".join(f"{name or '(unnamed)'} {n}" for name, n in progress.by_reviewer.items()))
    return EXIT_OK


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value) if value != "" else "(none)"
