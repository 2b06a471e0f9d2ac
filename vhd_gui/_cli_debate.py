"""`vhd-annotator debate MEDIA`: one debate, streamed to the terminal (or one JSON record)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

from vhd_gui._cli_common import EXIT_ITEMS_FAILED, EXIT_OK, EXIT_USAGE, UsageError, settings_from_args
from vhd_gui.config import Settings


class _Printer:
    """Renders engine events as text: a header per role and round, tokens as they arrive."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err
        self.color = out.isatty()
        self._thinking = False  # inside a turn's thinking (printed dim, apart from the argument)

    def _dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if self.color else text

    def _bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.color else text

    def handle(self, ev: object) -> None:
        from vhd_gui import engine as e

        out = self.out
        if isinstance(ev, e.DebateStarted):
            models = ", ".join(f"{r}={m}" for r, m in ev.models.items())
            frames = f", frames {list(ev.frames_sent)}" if ev.frames_sent else ""
            print(self._dim(f"{ev.path} ({ev.kind}{frames}) · preset {ev.preset_name} [{ev.preset_hash}] · {models}"), file=out)
        elif isinstance(ev, e.TurnStarted):
            retry = f" (attempt {ev.attempt})" if ev.attempt > 1 else ""
            self._thinking = False
            print("\n" + self._bold(f"── {ev.turn.label} · {ev.model}{retry} ──"), file=out, flush=True)
        elif isinstance(ev, e.ThinkingReceived):
            if not self._thinking:
                out.write(self._dim("[thinking] "))
                self._thinking = True
            out.write(self._dim(ev.text))
            out.flush()
        elif isinstance(ev, e.TokenReceived):
            if self._thinking:
                out.write("\n" + self._dim("[answer] "))
                self._thinking = False
            out.write(ev.text)
            out.flush()
        elif isinstance(ev, e.TurnRetrying):
            print(f"\n! {ev.turn.label}: {ev.reason}; retrying in {ev.delay:.1f} s", file=self.err, flush=True)
        elif isinstance(ev, e.TurnFinished):
            cached = f", {ev.cached_tokens} cached" if ev.cached_tokens else ""
            refused = " · REFUSED" if ev.refused else ""
            about = "~" if ev.usage_estimated else ""  # the server reported no usage: our estimate
            print("\n" + self._dim(f"({ev.seconds:.1f} s, {about}{ev.prompt_tokens} in{cached} / {about}{ev.completion_tokens} out{refused})"), file=out, flush=True)
        elif isinstance(ev, e.VerdictReached):
            v, r = ev.verdict, ev.record
            word = "HARMFUL" if v.harmful else "NOT HARMFUL"
            flags = f" [flags: {', '.join(v.flags)}]" if v.flags else ""
            detail = f": {v.harmful_type}" if v.harmful_type else ""
            print("\n" + self._bold(f"Verdict: {word}{detail}{flags}"), file=out)
            print(self._dim(f"{r.prompt_tokens} prompt tokens ({r.cached_tokens} cached), {r.completion_tokens} completion tokens, {r.seconds:.1f} s"), file=out, flush=True)
        elif isinstance(ev, e.DebateFailed):
            print(f"\nvhd-annotator debate: {ev.kind} error: {ev.message}", file=self.err, flush=True)


async def _debate(path: Path, settings: Settings, as_json: bool) -> int:
    from vhd_gui.engine import FAIL_CONFIG, DebateEngine, DebateFailed, VerdictReached
    from vhd_gui.filenames import to_key

    engine = DebateEngine(settings)
    printer = None if as_json else _Printer(sys.stdout, sys.stderr)
    last = None
    try:
        async for ev in engine.run(path, label=to_key(path)):  # a name that is not UTF-8 is shown escaped
            if printer is not None:
                printer.handle(ev)
            last = ev
    finally:
        await engine.close()
    if as_json and isinstance(last, (VerdictReached, DebateFailed)):
        print(json.dumps(last.record.to_dict(), ensure_ascii=False))
        if isinstance(last, DebateFailed):
            print(f"vhd-annotator debate: {last.kind} error: {last.message}", file=sys.stderr)
    if isinstance(last, VerdictReached):
        return EXIT_OK
    if isinstance(last, DebateFailed) and last.kind == FAIL_CONFIG:
        return EXIT_USAGE
    return EXIT_ITEMS_FAILED


def run_debate(args: argparse.Namespace) -> int:
    path = Path(args.media)
    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if path.is_dir():
        raise UsageError(f"{path} is a folder; debate takes one file (use 'batch' for a folder)")
    settings = settings_from_args(args)
    return asyncio.run(_debate(path, settings, bool(args.json)))
