"""`vhd-annotator`: the GUI launcher and the headless subcommands (a stable contract: scripts depend on it).

This module imports only the standard library so that ``--version`` and ``--help`` are
instant; each subcommand's handler module is imported when that subcommand runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from vhd_gui import __version__
from vhd_gui._cli_common import EXIT_USAGE, UsageError, float_between, int_between
from vhd_gui.checks import PLATFORM_PROBE_FLAG
from vhd_gui.scanning import SCAN_HELPER_FLAG

SUBCOMMANDS = ("debate", "batch", "import", "export", "metrics", "store", "doctor", "desktop")

# Upper limits of the numeric options: generous for real use, and a slip of the keyboard
# (--rounds 200, --concurrency 5000) is refused at once instead of spending money or memory.
MAX_ROUNDS = 10
MAX_FRAMES = 64
MAX_SIDE = 8192  # pixels
MAX_TURN_TIMEOUT = 3600.0  # seconds
MAX_CONCURRENCY = 64  # as in the window's Batch tab
MAX_RPM = 100_000
MAX_ITEMS = 10_000_000
MAX_BUDGET_TOKENS = 10**12
MAX_BUDGET_USD = 1_000_000.0
MAX_OVERLAP = 100  # as vhd_gui.store.MAX_OVERLAP (this module imports only the standard library)


_STORE_HELP = (
    "annotation store: an SQLite file, or postgresql://[USER@]HOST[:PORT]/DB (credentials from ~/.pgpass,"
    " PGPASSWORD or PGSERVICE); default: the settings file's store"
)


def _add_common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("endpoint and protocol (apply to every role unless the config file says otherwise)")
    g.add_argument(
        "--provider",
        choices=("openai", "azure"),
        help="kind of server: openai (OpenAI or any OpenAI-compatible server) or azure (Azure OpenAI); default: settings, else openai",
    )
    g.add_argument(
        "--base-url",
        metavar="URL",
        help="OpenAI-compatible server (default: $OPENAI_BASE_URL or OpenAI); with --provider azure the Azure endpoint, "
        "https://NAME.openai.azure.com (default: $AZURE_OPENAI_ENDPOINT)",
    )
    g.add_argument("--model", metavar="NAME", help="model for every role (default: settings, else gpt-4o); with --provider azure the deployment name")
    g.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable that holds the API key (default OPENAI_API_KEY, for Azure AZURE_OPENAI_API_KEY); "
        "keys are never read from the command line",
    )
    g.add_argument("--api-version", metavar="YYYY-MM-DD", help="Azure OpenAI API version (default: $OPENAI_API_VERSION, else 2024-10-21)")
    g.add_argument("--config", metavar="FILE", help="settings TOML, or an autogen OAI_CONFIG_LIST JSON file")
    g.add_argument("--rounds", type=int_between(1, MAX_ROUNDS), metavar="N", help="debate rounds (default 2)")
    g.add_argument("--frames", type=int_between(1, MAX_FRAMES), metavar="K", help="frames sampled from a video (default 5)")
    g.add_argument(
        "--sampling", choices=("exact", "keyframes"),
        help="video frames: exact (K evenly spread frames, the default) or keyframes (the keyframe nearest each; much faster)",
    )
    g.add_argument("--preset", metavar="NAME|FILE", help="prompt preset: vhd11k-image, vhd11k-video or a .toml/.json file")
    g.add_argument("--examples-folder", metavar="DIR", help="folder holding the preset's in-context example files")
    g.add_argument("--critic", action="store_true", default=None, help="add the critic after the judge")
    g.add_argument("--layout", choices=("flat", "chat"), help="message layout (default flat: one system + one user message)")
    g.add_argument("--max-side", type=int_between(64, MAX_SIDE), metavar="PX", help="longest side of the image sent (default 1024)")
    g.add_argument("--timeout", type=float_between(0, MAX_TURN_TIMEOUT, low_inclusive=False), metavar="S", help="overall deadline per turn in seconds (default 180)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vhd-annotator",
        description="Label images and videos as harmful or not with the VHD11K multi-agent debate.",
        epilog="Without a subcommand the window opens. Subcommands: " + ", ".join(SUBCOMMANDS) + " (see SUBCOMMAND --help).",
    )
    parser.add_argument("--version", action="version", version=f"vhd-annotator {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this install (Qt, media decoding, certificates, folders) without network or display; JSON report, exit 0 if it works",
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")

    p = sub.add_parser("debate", help="run one debate, streamed to the terminal")
    p.add_argument("media", metavar="MEDIA", help="an image or video file")
    p.add_argument("--json", action="store_true", help="print one final JSON record on stdout instead of the stream")
    _add_common(p)

    p = sub.add_parser("batch", help="debate every item of a folder")
    p.add_argument("folder", metavar="FOLDER")
    p.add_argument("--concurrency", type=int_between(1, MAX_CONCURRENCY), default=4, metavar="N")
    p.add_argument("--limit", type=int_between(1, MAX_ITEMS), metavar="N", help="debate at most N items")
    p.add_argument(
        "--store", metavar="FILE|URL",
        help="annotation store: an SQLite file or postgresql://HOST/DB (default: the settings file's store,"
        " else FOLDER/.vhd-annotator/annotations.sqlite)",
    )
    p.add_argument("--redo", action="store_true", help="debate items that already have a debate again")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--budget-usd", type=float_between(0, MAX_BUDGET_USD), metavar="X")
    budget.add_argument("--budget-tokens", type=int_between(1, MAX_BUDGET_TOKENS), metavar="N")
    p.add_argument("--rpm", type=int_between(1, MAX_RPM), metavar="N", help="at most N requests per minute")
    p.add_argument("--no-cache", action="store_true", help="do not reuse cached responses")
    p.add_argument(
        "--claim-lease",
        type=float_between(1, 86_400),
        default=60.0,
        metavar="S",
        help="seconds an item's claim lasts unless renewed (default 60): a killed batch's items go back to the queue after this",
    )
    _add_common(p)

    p = sub.add_parser("import", help="import an annotation file into a store")
    p.add_argument("file", metavar="FILE", help="VHD11K CSV/JSON or our JSONL")
    p.add_argument("--store", metavar="FILE|URL", help=_STORE_HELP)
    p.add_argument("--as", dest="as_", choices=("model", "human"), default="model", help="record the rows as model verdicts (default) or human decisions")
    p.add_argument(
        "--reviewer",
        metavar="NAME",
        help="who made the human decisions (with --as human; default: the settings file's reviewer, else the system user name)",
    )
    p.add_argument("--root", metavar="DIR", help="folder the file's paths are relative to (default: the store's folder)")

    p = sub.add_parser("export", help="export a store")
    p.add_argument("--store", metavar="FILE|URL", help=_STORE_HELP)
    p.add_argument("--format", required=True, choices=("vhd11k-csv", "vhd11k-json", "jsonl", "hf-metadata"))
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: next to the store)")

    p = sub.add_parser("metrics", help="model-versus-human agreement, or agreement between people (--between reviewers)")
    p.add_argument("--store", metavar="FILE|URL", help=_STORE_HELP)
    p.add_argument("--json", action="store_true")
    p.add_argument("--against", metavar="FILE", help="compare with the labels of another annotation file")
    p.add_argument("--by", choices=("kind", "category", "model"))
    p.add_argument(
        "--between",
        choices=("reviewers",),
        help="agreement between people (kappa, alpha, AC1 with 95%% intervals) and the model against each of them",
    )

    p = sub.add_parser("store", help="check a store, recover what is readable of a damaged one, or set how a team shares it")
    actions = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    a = actions.add_parser("check", help="SQLite's full integrity check, without changing the file (exit 2 when damaged); for a postgresql:// store, its summaries against its history")
    a.add_argument("store", metavar="STORE")
    a = actions.add_parser(
        "copy", help="copy a whole store into a new one, SQLite file or postgresql:// database, either way (histories and ids kept)"
    )
    a.add_argument("store", metavar="SRC", help="the store to copy (a file or a postgresql:// URL); only read")
    a.add_argument("dest", metavar="DST", help="a new SQLite file, or an empty PostgreSQL database (made into a store)")
    a = actions.add_parser("recover", help="copy every readable row of STORE into a new store OUT and say what was lost")
    a.add_argument("store", metavar="STORE")
    a.add_argument("out", metavar="OUT", help="the new store (must not exist)")
    a.add_argument(
        "--method",
        choices=("auto", "sqlite3-cli", "rows"),
        default="auto",
        help="sqlite3-cli: SQLite's .recover (the sqlite3 program); rows: read each table row by row;"
        " auto (default): the first when it works on this machine, else the second",
    )

    a = actions.add_parser(
        "project",
        help="show or change how a team shares STORE: overlap, resolution, adjudicator, blind review; and how far it got",
    )
    a.add_argument("store", metavar="STORE")
    a.add_argument("--overlap", type=int_between(1, MAX_OVERLAP), metavar="N", help="how many people should decide each item (default 1)")
    a.add_argument(
        "--resolution",
        choices=("latest", "majority", "adjudicator"),
        help="how several people's decisions form the final label: the latest one (default), the majority (a tie is a"
        " dispute), or the adjudicator's (else the label all gave, else a dispute)",
    )
    a.add_argument("--adjudicator", metavar="NAME", help="the reviewer whose decision settles an item ('' for none)")
    blind = a.add_mutually_exclusive_group()
    blind.add_argument("--blind", dest="blind", action="store_true", default=None, help="reviewers do not see each other's decisions")
    blind.add_argument("--no-blind", dest="blind", action="store_false", help="reviewers see each other's decisions (default)")
    a.add_argument("--json", action="store_true", help="print one JSON object instead of the lines")

    p = sub.add_parser("doctor", help="check the display, media, settings and each role's server, key and model")
    p.add_argument("--json", action="store_true", help="print one JSON report instead of the lines")
    p.add_argument("--no-network", action="store_true", help="skip the server checks")
    p.add_argument("--folder", metavar="DIR", help="also check that a store can be kept in this media folder")
    _add_common(p)

    p = sub.add_parser("desktop", help="add or remove the menu entry and icons for this user")
    p.add_argument("action", choices=("install", "uninstall"))
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vhd-annotator", add_help=False)
    parser.add_argument("path", nargs="?", metavar="PATH", help="folder of media or a store file")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="a shared postgresql:// store to work on, with PATH as this machine's media folder"
        " (default: the settings file's store when it is a URL)",
    )
    parser.add_argument(
        "--reviewer", metavar="NAME", help="who the window's decisions are from (default: the settings file's reviewer, else the system user)"
    )
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
    if command == "store":
        from vhd_gui._cli_storecmd import run_store

        return run_store

    if command == "doctor":
        from vhd_gui._cli_doctor import run_doctor

        return run_doctor
    if command == "desktop":
        from vhd_gui.desktop import run_desktop

        return run_desktop
    raise AssertionError(command)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == [SCAN_HELPER_FLAG] and len(args_list) == 2:  # the window's folder walker
        from vhd_gui.scanning import run_scan_helper

        return run_scan_helper(args_list[1])
    if args_list[:1] == [PLATFORM_PROBE_FLAG] and len(args_list) == 2:
        from vhd_gui.ui._qt_checks import probe_platform

        return probe_platform(args_list[1])
    if args_list and (args_list[0] in SUBCOMMANDS or args_list[0] in ("-h", "--help", "--version", "--self-test")):
        args = build_parser().parse_args(args_list)
        if args.self_test:
            if args.command:
                build_parser().error("--self-test takes no subcommand")
            from vhd_gui.selftest import main as self_test

            return self_test()
        try:
            return _handler(args.command)(args)
        except UsageError as exc:
            print(f"vhd-annotator {args.command}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print(f"vhd-annotator {args.command}: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            from vhd_gui.store import store_problem

            line = store_problem(exc)
            if line is None:
                raise
            print(f"vhd-annotator {args.command}: {line}", file=sys.stderr)
            return EXIT_USAGE
    args, unknown = build_gui_parser().parse_known_args(args_list)
    if unknown:
        build_parser().error(f"unrecognized arguments: {' '.join(unknown)}")
    from vhd_gui.ui.app import run_app

    return run_app(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
