"""`vhd-annotator import` and `vhd-annotator export`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vhd_gui._cli_common import EXIT_ITEMS_FAILED, EXIT_OK, UsageError, open_store, reviewer_from_args, store_from_args
from vhd_gui.formats import ExportError, FormatError, default_export_path, export_store, import_file, is_stdout
from vhd_gui.store import StoreError

MAX_PROBLEMS_SHOWN = 20


def run_import(args: argparse.Namespace) -> int:
    source = Path(args.file)
    if not source.is_file():
        raise UsageError(f"no such file: {source}")
    if args.reviewer and args.as_ != "human":
        raise UsageError("--reviewer goes with --as human")
    if args.root and not Path(args.root).is_dir():
        raise UsageError(f"--root {args.root} is not a folder")
    reviewer = reviewer_from_args(args) if args.as_ == "human" else ""
    store = open_store(store_from_args(args) or "", root=args.root, create=True, write=True)
    try:
        with store.named_errors():
            report = import_file(store, source, as_human=args.as_ == "human", reviewer=reviewer)
    except FormatError as exc:
        raise UsageError(f"{source}: {exc}") from None
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    what = f"human decisions of {reviewer}" if args.as_ == "human" else "debates"
    print(f"imported {source} ({report.format}, {report.encoding}) into {store.location} as {what}: {report.summary()}")
    for label, problems in (("malformed", report.malformed), ("conflict", report.conflicts)):
        for p in problems[:MAX_PROBLEMS_SHOWN]:
            where = f" {p.path}" if p.path else ""
            print(f"  {label}: line {p.line}{where}: {p.reason}", file=sys.stderr)
        if len(problems) > MAX_PROBLEMS_SHOWN:
            print(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more {label} rows", file=sys.stderr)
    return EXIT_ITEMS_FAILED if report.malformed else EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    store = open_store(store_from_args(args) or "")
    output = args.output or ""
    try:
        if store.backend != "sqlite" and not args.output:
            raise UsageError(f"the store {store.location} is on a server, so the export has no folder beside it: give -o FILE")
        if store.read_only and not args.output:
            raise UsageError(f"the store is read-only ({store.read_only_reason}), so the export cannot go beside it: give -o FILE")
        output = args.output or str(default_export_path(store, args.format))
        with store.named_errors():
            written = export_store(store, args.format, output)
    except (ExportError, StoreError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {_where(exc, output)}: {exc.strerror or exc}") from None
    finally:
        store.close()
    # With -o - the data is on standard output: everything said about it goes to stderr.
    say = sys.stderr if is_stdout(output) else sys.stdout
    if len(written) > 1:
        print(f"images and videos need separate {args.format} files: writing {len(written)} files", file=say)
    for f in written:
        name = "standard output" if is_stdout(output) else str(f.path)
        print(f"wrote {name} ({f.rows} rows{'' if f.kind == 'all' else ', ' + f.kind + 's'})", file=say)
    if (
        args.format == "hf-metadata"
        and written
        and not is_stdout(output)
        and written[0].path.parent.resolve() != store.root.resolve()
    ):
        print(f"file_name values are relative to {store.root}: put metadata.jsonl there for an imagefolder", file=say)
    return EXIT_OK


def _where(exc: OSError, output: str) -> str:
    if is_stdout(output):
        return "standard output"
    return str(exc.filename or output)
