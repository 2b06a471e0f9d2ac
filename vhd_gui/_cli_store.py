"""`vhd-annotator import` and `vhd-annotator export`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vhd_gui._cli_common import EXIT_ITEMS_FAILED, EXIT_OK, UsageError, open_store
from vhd_gui.formats import FormatError, default_export_path, export_store, import_file
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
    store = open_store(args.store, root=args.root, create=True, write=True)
    try:
        with store.named_errors():
            report = import_file(store, source, as_human=args.as_ == "human", reviewer=args.reviewer or "")
    except FormatError as exc:
        raise UsageError(f"{source}: {exc}") from None
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    what = "human decisions" if args.as_ == "human" else "debates"
    print(f"imported {source} ({report.format}, {report.encoding}) into {store.path} as {what}: {report.summary()}")
    for label, problems in (("malformed", report.malformed), ("conflict", report.conflicts)):
        for p in problems[:MAX_PROBLEMS_SHOWN]:
            where = f" {p.path}" if p.path else ""
            print(f"  {label}: line {p.line}{where}: {p.reason}", file=sys.stderr)
        if len(problems) > MAX_PROBLEMS_SHOWN:
            print(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more {label} rows", file=sys.stderr)
    return EXIT_ITEMS_FAILED if report.malformed else EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    try:
        if store.read_only and not args.output:
            raise UsageError(f"the store is read-only ({store.read_only_reason}), so the export cannot go beside it: give -o FILE")
        output = Path(args.output) if args.output else default_export_path(store, args.format)
        if output.is_dir():
            raise UsageError(f"-o {output} is a folder; give a file name")
        with store.named_errors():
            written = export_store(store, args.format, output)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {exc.filename or 'the export'}: {exc.strerror or exc}") from None
    finally:
        store.close()
    if len(written) > 1:
        print(f"images and videos need separate {args.format} files: writing {len(written)} files")
    for f in written:
        print(f"wrote {f.path} ({f.rows} rows{'' if f.kind == 'all' else ', ' + f.kind + 's'})")
    if args.format == "hf-metadata" and written and written[0].path.parent.resolve() != store.root.resolve():
        print(f"file_name values are relative to {store.root}: put metadata.jsonl there for an imagefolder")
    return EXIT_OK
