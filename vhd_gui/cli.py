"""`vhd-annotator`: the GUI launcher and the headless subcommands (a stable contract: scripts depend on it).

This module imports only the standard library so that ``--version`` and ``--help`` are
instant; each subcommand's handler module is imported when that subcommand runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from vhd_gui import __version__
from vhd_gui._cli_common import EXIT_USAGE, UsageError, non_negative_float, positive_int

SUBCOMMANDS = ("debate", "batch", "import", "export", "metrics")


def _add_common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("endpoint and protocol (apply to every role unless the config file says otherwise)")
    g.add_argument("--base-url", metavar="URL", help="OpenAI-compatible server (default: $OPENAI_BASE_URL or OpenAI)")
    g.add_argument("--model", metavar="NAME", help="model for every role (default: settings, else gpt-4o)")
    g.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable that holds the API key (default OPENAI_API_KEY); keys are never read from the command line",
    )
    g.add_argument("--config", metavar="FILE", help="settings TOML, or an autogen OAI_CONFIG_LIST JSON file")
    g.add_argument("--rounds", type=positive_int, metavar="N", help="debate rounds (default 2)")
    g.add_argument("--frames", type=positive_int, metavar="K", help="frames sampled from a video (default 5)")
    g.add_argument(
        "--sampling", choices=("exact", "keyframes"),
        help="video frames: exact (K evenly spread frames, the default) or keyframes (the keyframe nearest each; much faster)",
    )
    g.add_argument("--preset", metavar="NAME|FILE", help="prompt preset: vhd11k-image, vhd11k-video or a .toml/.json file")
    g.add_argument("--examples-folder", metavar="DIR", help="folder holding the preset's in-context example files")
    g.add_argument("--critic", action="store_true", default=None, help="add the critic after the judge")
    g.add_argument("--layout", choices=("flat", "chat"), help="message layout (default flat: one system + one user message)")
    g.add_argument("--max-side", type=positive_int, metavar="PX", help="longest side of the image sent (default 1024)")
    g.add_argument("--timeout", type=float, metavar="S", help="overall deadline per turn in seconds (default 180)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vhd-annotator",
        description="Label images and videos as harmful or not with the VHD11K multi-agent debate.",
        epilog="Without a subcommand the window opens. Subcommands: " + ", ".join(SUBCOMMANDS) + " (see SUBCOMMAND --help).",
    )
    parser.add_argument("--version", action="version", version=f"vhd-annotator {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")

    p = sub.add_parser("debate", help="run one debate, streamed to the terminal")
    p.add_argument("media", metavar="MEDIA", help="an image or video file")
    p.add_argument("--json", action="store_true", help="print one final JSON record on stdout instead of the stream")
    _add_common(p)

    p = sub.add_parser("batch", help="debate every item of a folder")
    p.add_argument("folder", metavar="FOLDER")
    p.add_argument("--concurrency", type=positive_int, default=4, metavar="N")
    p.add_argument("--limit", type=positive_int, metavar="N", help="debate at most N items")
    p.add_argument("--store", metavar="FILE", help="annotation store (default FOLDER/.vhd-annotator/annotations.sqlite)")
    p.add_argument("--redo", action="store_true", help="debate items that already have a debate again")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--budget-usd", type=non_negative_float, metavar="X")
    budget.add_argument("--budget-tokens", type=positive_int, metavar="N")
    p.add_argument("--rpm", type=positive_int, metavar="N", help="at most N requests per minute")
    p.add_argument("--no-cache", action="store_true", help="do not reuse cached responses")
    _add_common(p)

    p = sub.add_parser("import", help="import an annotation file into a store")
    p.add_argument("file", metavar="FILE", help="VHD11K CSV/JSON or our JSONL")
    p.add_argument("--store", required=True, metavar="FILE")
    p.add_argument("--as", dest="as_", choices=("model", "human"), default="model", help="record the rows as model verdicts (default) or human decisions")
    p.add_argument("--reviewer", metavar="NAME", help="who made the human decisions (with --as human)")
    p.add_argument("--root", metavar="DIR", help="folder the file's paths are relative to (default: the store's folder)")

    p = sub.add_parser("export", help="export a store")
    p.add_argument("--store", required=True, metavar="FILE")
    p.add_argument("--format", required=True, choices=("vhd11k-csv", "vhd11k-json", "jsonl", "hf-metadata"))
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: next to the store)")

    p = sub.add_parser("metrics", help="model-versus-human agreement")
    p.add_argument("--store", required=True, metavar="FILE")
    p.add_argument("--json", action="store_true")
    p.add_argument("--against", metavar="FILE", help="compare with the labels of another annotation file")
    p.add_argument("--by", choices=("kind", "category", "model"))
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vhd-annotator", add_help=False)
    parser.add_argument("path", nargs="?", metavar="PATH", help="folder of media or a store file")
    _add_common(parser)
    return parser


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    if command == "debate":
        from vhd_gui._cli_debate import run_debate

        return run_debate
    if command in ("import", "export"):
        from vhd_gui import _cli_store

        return _cli_store.run_import if command == "import" else _cli_store.run_export
    if command == "batch":
        from vhd_gui._cli_batch import run_batch

        return run_batch
    if command == "metrics":
        from vhd_gui._cli_metrics import run_metrics

        return run_metrics
    raise AssertionError(command)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and (args_list[0] in SUBCOMMANDS or args_list[0] in ("-h", "--help", "--version")):
        args = build_parser().parse_args(args_list)
        try:
            return _handler(args.command)(args)
        except UsageError as exc:
            print(f"vhd-annotator {args.command}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print(f"vhd-annotator {args.command}: interrupted", file=sys.stderr)
            return 130
    args, unknown = build_gui_parser().parse_known_args(args_list)
    if unknown:
        build_parser().error(f"unrecognized arguments: {' '.join(unknown)}")
    from vhd_gui.ui.app import run_app

    return run_app(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
