"""`vhd-annotator store check STORE`, `store recover STORE OUT` and `store project STORE`.

``check`` runs SQLite's full integrity check without changing the file and prints the
problems it finds, what the store holds and its backups: exit 0 when sound, 2 when damaged
or not a store. ``recover`` copies every readable row into a new store OUT (never over an
existing file) and says, table by table, what could not be read: exit 0 when nothing was
lost, 1 when something was, 2 when nothing could be recovered. ``project`` shows the team
settings kept in the store (overlap, resolution, adjudicator, blind review) and how far the
reviewers got, and changes the settings it is given (all in one transaction).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from vhd_gui._cli_common import EXIT_ITEMS_FAILED, EXIT_OK, EXIT_USAGE, UsageError, open_store


def run_store(args: argparse.Namespace) -> int:
    if args.store_command == "check":
        return _check(args)
    if args.store_command == "recover":
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
