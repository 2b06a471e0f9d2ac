"""`vhd-annotator metrics`: model-versus-human agreement, or agreement between people, in the terminal.

    vhd-annotator metrics --store FILE [--json] [--against FILE] [--by kind|category|model]
    vhd-annotator metrics --store FILE --between reviewers [--json] [--by kind|category]

The table gives each figure with its 95 % interval; ``--json`` prints one object whose top-level
keys are the overall figures (``n``, ``acc_harmful``, ``acc_unharmful``, ``acc_mean``,
``precision``, ``recall``, ``f1``, ``kappa``, ``accuracy``, each with ``<key>_ci`` as [lo, hi] or
null, and ``confusion`` keyed human → model), plus ``groups`` with the same object per group
when ``--by`` is given. No items with both labels is not an error: n is 0 and figures are null.

``--between reviewers`` compares the people who decided items with each other (see
:mod:`vhd_gui.agreement`): the figures over all reviewers, each pair, and the model against each
person and the final label, each with its 95 % interval. ``--json`` prints
:meth:`~vhd_gui.agreement.PeopleAgreement.to_json`. Fewer than two reviewers with a shared item
is not an error either: one line says so (``comparable`` is false in the JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vhd_gui import agreement, metrics
from vhd_gui._cli_common import EXIT_OK, UsageError, open_store, store_from_args
from vhd_gui.store import Store, StoreError, VerdictRow

_BY_TITLES = {"kind": "kind", "category": "human category", "model": "judge model / preset"}


def _rows(store: Store, against: str | None) -> tuple[list[VerdictRow], metrics.ReferenceLabels | None]:
    rows = store.verdict_rows()
    if against is None:
        return rows, None
    from vhd_gui.formats import FormatError

    source = Path(against)
    if not source.is_file():
        raise UsageError(f"--against: no such file: {against}")
    try:
        reference = metrics.reference_labels(store, source)
    except FormatError as exc:
        raise UsageError(f"--against {against}: {exc}") from None
    return metrics.with_reference_labels(rows, reference), reference


def run_metrics(args: argparse.Namespace) -> int:
    if getattr(args, "between", None) == "reviewers":
        return run_between_reviewers(args)
    store = open_store(store_from_args(args) or "")
    try:
        with store.named_errors():
            rows, reference = _rows(store, args.against)
        store_path = store.location
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    overall = metrics.agreement(rows)
    groups = metrics.agreement_by(rows, args.by) if args.by else None
    items = len(rows)
    with_verdict = sum(1 for r in rows if r.model_label is not None)
    with_label = sum(1 for r in rows if r.human_label is not None)
    if args.json:
        out: dict[str, Any] = overall.to_json()
        out["store"] = store_path
        out["items"] = items
        out["with_model_verdict"] = with_verdict
        out["with_human_label"] = with_label
        if reference is not None:
            out["against"] = _reference_json(reference)
        if groups is not None:
            out["by"] = args.by
            out["groups"] = {name: a.to_json() for name, a in groups.items()}
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return EXIT_OK
    if reference is not None:
        print(_reference_words(reference))
    if not overall.n:
        print(metrics.no_overlap_message(items, with_verdict, with_label, reference.file if reference else ""))
        return EXIT_OK
    title = f"model verdict vs labels in {reference.file}" if reference else "model verdict vs human decision"
    print(metrics.format_table(overall, title))
    if groups is not None:
        print()
        print(f"by {_BY_TITLES[args.by]} (figures in %, kappa as a fraction; 95% intervals in brackets)")
        print(metrics.format_groups(groups, args.by))
    return EXIT_OK


def _reference_json(r: metrics.ReferenceLabels) -> dict[str, Any]:
    return {
        "file": r.file,
        "format": r.format,
        "rows": r.rows,
        "matched": len(r.labels),
        "unmatched": len(r.unmatched),
        "ambiguous": len(r.ambiguous),
        "conflicting_rows": r.conflicts,
        "malformed_rows": r.malformed,
    }


def _reference_words(r: metrics.ReferenceLabels) -> str:
    text = f"{r.file} ({r.format}): {r.rows} rows, {len(r.labels)} matched to items in the store"
    extras = [
        (len(r.unmatched), "without a matching item"),
        (len(r.ambiguous), "matching several items"),
        (r.conflicts, "contradicting an earlier row"),
        (r.malformed, "malformed"),
    ]
    text += "".join(f", {n} {what}" for n, what in extras if n)
    return text


def run_between_reviewers(args: argparse.Namespace) -> int:
    if args.against is not None:
        raise UsageError("--against compares the model with a file's labels; it does not apply to --between reviewers")
    if args.by == "model":
        raise UsageError("--between reviewers splits by kind or category, not by model")
    store = open_store(args.store)
    try:
        with store.named_errors():
            rows = agreement.read_ratings(store)
        store_path = str(store.path)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    result = agreement.between_people(rows)
    if args.json:
        out: dict[str, Any] = {"store": store_path, "between": "reviewers", **result.to_json(args.by)}
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return EXIT_OK
    if not result.comparable:
        print(agreement.not_comparable_message(result))
        return EXIT_OK
    who = ", ".join(f"{name} {count:,}" for name, count in result.reviewers.items())
    print(f"Agreement between people: {len(result.reviewers)} reviewers (items decided: {who})")
    print(agreement.format_group(result.overall, "harmful or not"))
    print()
    print(agreement.format_groups({agreement.LABEL_AND_CATEGORY: result.label_and_category}, "nominal"))
    if args.by:
        print()
        title = "kind" if args.by == "kind" else "category (harmful with it vs not)"
        print(f"by {title}")
        print(agreement.format_groups(result.groups(args.by), args.by))
    print()
    print(agreement.method_note(result))
    return EXIT_OK
