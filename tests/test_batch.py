"""Batch labelling against a real test server, on real store files."""

from __future__ import annotations

import asyncio
import base64
import collections
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from vhd_gui.batch import (
    DEAD_SERVER_AFTER,
    STOP_BUDGET,
    STOP_CONFIG,
    STOP_DONE,
    STOP_ERROR,
    STOP_SERVER,
    BatchRun,
    BatchStopped,
    ItemFinished,
    RateLimiter,
    pending_items,
)
from vhd_gui.cache import ResponseCache
from vhd_gui.media import scan
from vhd_gui.store import Store

from fakeserver import FakeServer
from helpers import TEST_KEY, TEST_KEY_ENV, fill_disk, settings_for, settled_tasks, small_tmpfs, write_image

KEY = TEST_KEY


def judge_by_colour(body: dict[str, Any]) -> str:
    """The 'right' verdict of our generated items: red ones are harmful, green ones are not."""
    user = [m for m in body["messages"] if m["role"] == "user"][-1]
    urls = [p["image_url"]["url"] for p in user["content"] if p.get("type") == "image_url"]
    im = Image.open(io.BytesIO(base64.b64decode(urls[-1].split(",", 1)[1]))).convert("RGB").resize((1, 1))
    r, g, _ = im.getpixel((0, 0))
    return "Yes, bloody scene." if r > g else "No, green field."


def make_folder(root: Path, n: int) -> dict[str, str]:
    """n images, alternately red and green; returns the right decision per relative path."""
    truth = {}
    for i in range(n):
        red = i % 2 == 0
        rel = f"sub{i % 3}/item{i:03d}.png"
        shade, blue = 20 + i % 100, (i // 100) % 256  # unique bytes per item, and red stays red
        write_image(root / rel, (96, 64), (200, shade, blue) if red else (shade, 200, blue))
        truth[rel] = "yes" if red else "no"
    return truth


def open_store(root: Path, target: str | None = None) -> Store:
    """The folder's own store with its items, or the store at ``target`` (a file or a URL)."""
    from vhd_gui.store_api import open_store as open_any

    store = Store.for_folder(root) if target is None else open_any(target, root=root)
    with store.transaction():
        store.upsert_items((m.rel, m.kind, m.size, m.mtime) for m in scan(root))
    return store


async def drain(run: BatchRun) -> BatchStopped:
    last = None
    async for ev in run.run():
        last = ev
    assert isinstance(last, BatchStopped)
    return last


@pytest.fixture
def server(make_server: Callable[..., FakeServer]) -> FakeServer:
    """A judge that answers by the picture's colour, so each verdict can be checked."""
    return make_server(answers={"judge": judge_by_colour})


@pytest.mark.asyncio
async def test_flaky_server_still_gets_every_verdict_right(server: FakeServer, tmp_path: Path, store_target: str) -> None:
    truth = make_folder(tmp_path / "media", 30)
    server.fault_rates = {"429": 0.10, "500": 0.05}
    server.retry_after = 0.01
    store = open_store(tmp_path / "media", store_target)
    s = settings_for(server.base_url, retry_base_delay=0.01, attempts=8)
    stopped = await drain(BatchRun(store, s, sorted(truth), concurrency=4, use_cache=False))
    assert stopped.reason == STOP_DONE and stopped.progress.failed == 0 and stopped.progress.done == 30
    for rel, decision in truth.items():
        assert [d.decision for d in store.debates(rel)] == [decision]
    faults = sum(1 for _ in server.requests) - 30 * 5
    assert faults > 0  # the faults really happened, and were retried


@pytest.mark.asyncio
async def test_in_flight_requests_never_exceed_the_limit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, KEY)
    truth = make_folder(tmp_path / "m", 12)
    with FakeServer(api_key=KEY, token_delay=0.002) as srv:
        store = open_store(tmp_path / "m")
        stopped = await drain(BatchRun(store, settings_for(srv.base_url), sorted(truth), concurrency=3, use_cache=False))
        assert stopped.progress.done == 12
        assert srv.stats.max_in_flight == 3


@pytest.mark.asyncio
async def test_budget_stops_new_items(server: FakeServer, tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 10)
    store = open_store(tmp_path / "m")
    one = await drain(BatchRun(store, settings_for(server.base_url), sorted(truth)[:1], use_cache=False))
    per_item = one.progress.tokens
    budget = int(per_item * 2.5)
    stopped = await drain(BatchRun(store, settings_for(server.base_url), sorted(truth), concurrency=1, budget_tokens=budget, use_cache=False))
    assert stopped.reason == STOP_BUDGET
    assert stopped.progress.done == 2  # a third would not fit in what is left
    assert stopped.progress.tokens <= budget and stopped.progress.overrun() == ""
    assert store.counts().by_status.get("debated") == 3


@pytest.mark.asyncio
async def test_a_budget_is_a_ceiling_the_debates_in_flight_count_before_a_new_one_starts(server: FakeServer, tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 12)
    store = open_store(tmp_path / "m")
    one = await drain(BatchRun(store, settings_for(server.base_url), sorted(truth)[:1], use_cache=False))
    per_item = one.progress.tokens
    budget = int(per_item * 3.5)
    run = BatchRun(store, settings_for(server.base_url), sorted(truth), concurrency=4, budget_tokens=budget, use_cache=False)
    async for ev in run.run():
        last = ev
    assert isinstance(last, BatchStopped) and last.reason == STOP_BUDGET
    # Four at a time would have started four at once and spent 4x; the projection keeps under the ceiling.
    assert last.progress.done == 3 and last.progress.tokens <= budget and last.progress.overrun() == ""
    assert server.stats.requests == 5 * (1 + 3)


@pytest.mark.asyncio
async def test_a_run_that_goes_over_its_budget_says_by_how_much(server: FakeServer, tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 4)
    store = open_store(tmp_path / "m")
    stopped = await drain(BatchRun(store, settings_for(server.base_url), sorted(truth), concurrency=4, budget_tokens=100, use_cache=False))
    assert stopped.reason == STOP_BUDGET and stopped.progress.done == 1  # the first debate measures the cost, alone
    over = stopped.progress.tokens - 100
    assert over > 0 and stopped.progress.overrun() == (
        f"went over the budget of 100 tokens by {over:,} ({over:.1f}%)"
    )
    usd = await drain(BatchRun(store, settings_for(server.base_url), sorted(truth), budget_usd=0.001, use_cache=False))
    assert usd.progress.done == 1 and usd.progress.overrun().startswith("went over the budget of $0.00 by $")


@pytest.mark.asyncio
async def test_a_cache_hit_sends_nothing(server: FakeServer, tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 4)
    store = open_store(tmp_path / "m")
    cache = ResponseCache(tmp_path / "cache.sqlite")
    s = settings_for(server.base_url)
    await drain(BatchRun(store, s, sorted(truth), cache=cache))
    sent = server.stats.requests
    assert sent == 20 and cache.entries() == 20
    again = await drain(BatchRun(store, s, sorted(truth), cache=cache, redo=True))
    assert server.stats.requests == sent and again.progress.done == 4
    for rel, decision in truth.items():
        debates = store.debates(rel)
        assert [d.decision for d in debates] == [decision, decision]
        assert all(t.from_cache for t in debates[-1].turns) and debates[-1].prompt_tokens == 0
    # Without the cache (a Re-run in the window) the same items go to the server again.
    await drain(BatchRun(store, s, sorted(truth)[:1], cache=cache, redo=True, use_cache=False))
    assert server.stats.requests == sent + 5
    assert cache.size_bytes() > 0
    cache.clear()
    assert cache.entries() == 0


@pytest.mark.asyncio
async def test_items_with_a_debate_or_a_person_s_decision_are_skipped(server: FakeServer, tmp_path: Path, store_target: str) -> None:
    truth = make_folder(tmp_path / "m", 6)
    store = open_store(tmp_path / "m", store_target)
    paths = sorted(truth)
    store.record_decision(paths[0], "no", reviewer="ana")
    await drain(BatchRun(store, settings_for(server.base_url), paths[:2], use_cache=False))
    assert store.debates(paths[0]) == [] and len(store.debates(paths[1])) == 1
    todo, skipped = pending_items(store, paths)
    assert todo == paths[2:] and skipped == 2
    # The window's item open for labelling is left alone.
    run = BatchRun(store, settings_for(server.base_url), paths, skip=lambda p: p == paths[2], use_cache=False)
    stopped = await drain(run)
    assert store.debates(paths[2]) == [] and stopped.progress.done == 3
    assert store.human_decision(paths[0]).label == "no"


@pytest.mark.asyncio
async def test_a_wrong_key_stops_the_batch_without_a_storm(monkeypatch: pytest.MonkeyPatch, server: FakeServer, tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 8)
    monkeypatch.setenv(TEST_KEY_ENV, "wrong")
    store = open_store(tmp_path / "m")
    stopped = await drain(BatchRun(store, settings_for(server.base_url), sorted(truth), concurrency=2, use_cache=False))
    assert stopped.reason == STOP_CONFIG
    assert server.stats.requests <= 2  # one per worker at most
    assert all(f.kind == "config" for f in stopped.progress.failures)


@pytest.mark.asyncio
async def test_bad_media_fails_alone(server: FakeServer, tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 3)
    (tmp_path / "m" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    store = open_store(tmp_path / "m")
    stopped = await drain(BatchRun(store, settings_for(server.base_url), sorted([*truth, "broken.jpg"]), use_cache=False))
    assert stopped.progress.done == 3 and stopped.progress.failed == 1
    assert stopped.progress.failures[0].path == "broken.jpg" and stopped.progress.failures[0].kind == "media"
    assert store.row("broken.jpg").status == "error"


@pytest.mark.asyncio
async def test_pause_resume_and_cancel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, KEY)
    truth = make_folder(tmp_path / "m", 8)
    with FakeServer(api_key=KEY, token_delay=0.01) as srv:
        store = open_store(tmp_path / "m")
        run = BatchRun(store, settings_for(srv.base_url), sorted(truth), concurrency=2, use_cache=False)
        finished = 0
        async for ev in run.run():
            if isinstance(ev, ItemFinished):
                finished += 1
                if finished == 1:
                    run.pause()
                    while run.progress.running:  # the items already started finish...
                        await asyncio.sleep(0.01)
                    requests = srv.stats.requests
                    await asyncio.sleep(0.2)
                    assert srv.stats.requests == requests and run.progress.running == 0  # ...and none starts
                    run.resume()
                if finished == 3:
                    run.cancel()
            if isinstance(ev, BatchStopped):
                assert ev.reason == "cancelled"
        recorded = [p for p in truth if store.debates(p)]
        assert len(recorded) == run.progress.done + run.progress.failed
        assert await settled_tasks() == set()


@pytest.mark.asyncio
async def test_rate_limiter_spaces_requests() -> None:
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0], window=60.0)
    await limiter.acquire()
    await limiter.acquire()
    assert limiter.delay_needed() == pytest.approx(60.0)
    now[0] = 30.0
    assert limiter.delay_needed() == pytest.approx(30.0)
    now[0] = 60.0
    assert limiter.delay_needed() == 0.0


def test_sigkill_then_rerun_does_every_item_exactly_once(tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 16)
    env = {**os.environ, "VHD_KEY": KEY}
    with FakeServer(api_key=KEY, answers={"judge": judge_by_colour}, token_delay=0.01) as srv:
        # A short lease: the killed run's claims on its unfinished items run out within seconds,
        # not the default minute, before the rerun takes them.
        cmd = [sys.executable, "-m", "vhd_gui", "batch", str(tmp_path / "m"), "--concurrency", "2", "--no-cache",
               "--base-url", srv.base_url, "--model", "fake-vlm", "--api-key-env", "VHD_KEY", "--claim-lease", "3"]
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        store_path = tmp_path / "m" / ".vhd-annotator" / "annotations.sqlite"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if store_path.exists():
                with Store.open(store_path) as st:
                    if st.counts().by_status.get("debated", 0) >= 4:
                        break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        with Store.open(store_path) as st:
            before = {p for p in truth if st.debates(p)}
            assert 4 <= len(before) < 16
        requests_before = srv.stats.requests
        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        assert f"{len(before)} already done or decided" in rerun.stderr
        with Store.open(store_path) as st:
            assert st.integrity_check() == "ok"
            for rel, decision in truth.items():
                assert [d.decision for d in st.debates(rel)] == [decision], rel
        # The rerun asked only for the items that were not done: five requests each.
        assert srv.stats.requests - requests_before == 5 * (16 - len(before))


def test_cli_summary_and_exit_code(tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 3)
    (tmp_path / "m" / "zero.mp4").write_bytes(b"")
    env = {**os.environ, "VHD_KEY": KEY}
    with FakeServer(api_key=KEY, answers={"judge": judge_by_colour}) as srv:
        out = subprocess.run(
            [sys.executable, "-m", "vhd_gui", "batch", str(tmp_path / "m"), "--store", str(tmp_path / "s.sqlite"), "--no-cache",
             "--base-url", srv.base_url, "--model", "fake-vlm", "--api-key-env", "VHD_KEY"],
            env=env, capture_output=True, text=True, timeout=300,
        )
    assert out.returncode == 1
    assert "done 3 · skipped 0 · failed 1" in out.stderr and "over the budget" not in out.stderr
    assert "zero.mp4: media:" in out.stderr and "zero-byte" in out.stderr
    assert KEY not in out.stderr + out.stdout
    with Store.open(tmp_path / "s.sqlite") as st:
        assert {p: st.row(p).model_label for p in truth} == truth


def test_a_full_disk_stops_the_batch_with_its_reason_and_keeps_what_finished(tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 12)
    with small_tmpfs(tmp_path / "small") as disk:
        store_path = disk / "s.sqlite"
        with Store.open(store_path, root=tmp_path / "m") as st:
            st.upsert_items((m.rel, m.kind, m.size, m.mtime) for m in scan(tmp_path / "m"))
        # room for the daily backup the batch takes when it opens the store, then for a few debates, not for twelve
        filler = fill_disk(disk, store_path.stat().st_size + 192 * 1024)
        env = {**os.environ, "VHD_KEY": KEY}
        with FakeServer(api_key=KEY, answers={"judge": judge_by_colour}) as srv:
            out = subprocess.run(
                [sys.executable, "-m", "vhd_gui", "batch", str(tmp_path / "m"), "--store", str(store_path), "--no-cache",
                 "--concurrency", "1", "--base-url", srv.base_url, "--model", "fake-vlm", "--api-key-env", "VHD_KEY"],
                env=env, capture_output=True, text=True, timeout=300,
            )
            requests = srv.stats.requests
        assert out.returncode == 1, out.stderr
        assert "Traceback" not in out.stderr
        assert "failed 0" not in out.stderr and "· failed 1 ·" in out.stderr
        stop_lines = [line for line in out.stderr.splitlines() if line.startswith("stopped: ")]
        assert len(stop_lines) == 1 and "database or disk is full" in stop_lines[0], out.stderr
        assert f"free some space where the store is: {disk}" in stop_lines[0]
        filler.unlink()
        with Store.open(store_path) as st:
            assert st.integrity_check() == "ok"
            recorded = {p: st.debates(p) for p in truth}
        kept = {p: d for p, d in recorded.items() if d}
        # What finished before the disk filled is committed, whole and right; nothing after it was started.
        assert 1 <= len(kept) < 12
        assert f"done {len(kept)} ·" in out.stderr
        for rel, debates in kept.items():
            assert [d.decision for d in debates] == [truth[rel]] and len(debates[0].turns) == 5
        # The item the disk could not take was refused at its claim (no request) or at its result.
        assert requests in (5 * len(kept), 5 * (len(kept) + 1))


@pytest.mark.asyncio
async def test_an_exception_anywhere_stops_the_run_and_is_counted(server: FakeServer, tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 6)
    store = open_store(tmp_path / "m")
    paths = sorted(truth)

    def skip(path: str) -> bool:
        if path == paths[3]:
            raise LookupError("the window's list changed under the batch")
        return False

    stopped = await drain(BatchRun(store, settings_for(server.base_url), paths, concurrency=1, skip=skip, use_cache=False))
    assert stopped.reason == STOP_ERROR
    assert "LookupError: the window's list changed under the batch" in stopped.progress.stop_message
    assert stopped.progress.done == 3 and stopped.progress.failed == 1  # the item it broke on counts
    assert stopped.progress.failures[0].path == paths[3] and stopped.progress.failures[0].kind == "internal"
    assert [p for p in paths if store.debates(p)] == paths[:3]


# ---------------------------------------------------------------- one queue per store: claims


def test_a_claim_is_exclusive_fences_the_write_and_comes_back_when_it_runs_out(store_target: str, tmp_path: Path) -> None:
    from vhd_gui.record import DebateRecord
    from vhd_gui.store import ClaimLost
    from vhd_gui.store_api import open_store as open_any

    store = open_any(store_target, root=tmp_path)
    store.add_item("a.png", "image")
    mine = store.claim_item("a.png", "batch A", lease_seconds=60)
    assert mine is not None and mine.attempts == 1
    assert store.claim_item("a.png", "batch B", lease_seconds=60) is None  # live: nobody else gets it
    holder = store.claim_holder("a.png")
    assert holder is not None and holder.owner == "batch A" and holder.attempts == 1
    assert store.claim_holder("a.png", other_than="batch A") is None
    assert [c.path for c in store.claims()] == ["a.png"]
    renewed = store.renew_claim(mine, lease_seconds=0.2)
    assert renewed is not None and renewed.lease_until < mine.lease_until
    while store.claim_holder("a.png") is not None:  # the lease runs out (a killed holder)
        time.sleep(0.05)
    assert store.claims() == [] and len(store.claims(include_expired=True)) == 1
    theirs = store.claim_item("a.png", "batch B", lease_seconds=60)
    assert theirs is not None and theirs.attempts == 2
    # The first holder comes back to life: it can neither renew nor record.
    assert store.renew_claim(mine, lease_seconds=60) is None
    record = DebateRecord(path="a.png", kind="image", status="debated", decision="no")
    with pytest.raises(ClaimLost, match="batch B has it now"):
        store.record_claimed_debate(record, mine)
    assert store.debates("a.png") == []
    store.record_claimed_debate(record, theirs)
    assert [d.decision for d in store.debates("a.png")] == ["no"]
    assert store.claims(include_expired=True) == []  # the claim ended with the result
    # Releasing gives an item back at once, without an attempt counted.
    again = store.claim_item("a.png", "batch C", lease_seconds=60)
    assert again is not None and again.attempts == 1
    store.release_claim(again)
    assert store.claim_holder("a.png") is None
    store.close()


@pytest.mark.asyncio
async def test_a_claim_is_renewed_while_its_debate_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store_target: str) -> None:
    from vhd_gui.store_api import open_store as open_any

    monkeypatch.setenv(TEST_KEY_ENV, KEY)
    truth = make_folder(tmp_path / "m", 1)
    (path,) = truth
    with FakeServer(api_key=KEY, token_delay=0.04) as srv:  # a debate of several seconds: several leases long
        store = open_any(store_target, root=tmp_path / "m")
        store.upsert_items((m.rel, m.kind, m.size, m.mtime) for m in scan(tmp_path / "m"))
        other = open_any(store_target, root=tmp_path / "m")  # another process's view of the same store
        run = BatchRun(store, settings_for(srv.base_url), [path], lease_seconds=1.5, owner="renewing batch", use_cache=False)
        seen: list[Any] = []

        async def watch() -> None:
            while True:
                if not run.progress.running:
                    seen.append("idle")
                else:  # the claim ends with the commit, which runs on the batch's store thread
                    seen.append(other.claim_holder(path) or ("recorded" if other.current_debate(path) else None))
                await asyncio.sleep(0.1)

        watcher = asyncio.create_task(watch())
        stopped = await drain(run)
        watcher.cancel()
        other.close()
    assert stopped.progress.done == 1
    during = [c for c in seen if c not in ("idle", "recorded")]
    assert during and all(c is not None and c.owner == "renewing batch" for c in during)  # never free while it ran
    assert len({c.lease_until for c in during}) >= 3  # pushed on by the heartbeat, again and again
    assert store.claims(include_expired=True) == []


def _batch_cmd(folder: Path, base_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vhd_gui", "batch", str(folder), "--no-cache", "--base-url", base_url,
            "--model", "fake-vlm", "--api-key-env", "VHD_KEY", *extra]


def _image_of(body: dict[str, Any]) -> str:
    user = [m for m in body["messages"] if m["role"] == "user"][-1]
    return [p["image_url"]["url"] for p in user["content"] if p.get("type") == "image_url"][-1]


def test_two_batch_processes_on_one_store_share_the_work_and_pay_once(tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 24)
    env = {**os.environ, "VHD_KEY": KEY}
    with FakeServer(api_key=KEY, answers={"judge": judge_by_colour}, token_delay=0.01) as srv:
        cmd = _batch_cmd(tmp_path / "m", srv.base_url, "--concurrency", "2")
        children = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [c.communicate(timeout=600)[1] for c in children]
        assert [c.returncode for c in children] == [0, 0], outs
        requests = list(srv.requests)
    # Every item was asked for exactly once: its five turns, by one process.
    per_item = collections.Counter(_image_of(b) for b in requests)
    assert len(per_item) == 24 and set(per_item.values()) == {5}
    with Store.open(tmp_path / "m" / ".vhd-annotator" / "annotations.sqlite") as st:
        for rel, decision in truth.items():
            assert [d.decision for d in st.debates(rel)] == [decision], rel
        assert st.claims(include_expired=True) == []
    done = [int(re.search(r"^done (\d+) ·", o, re.M).group(1)) for o in outs]  # type: ignore[union-attr]
    assert sum(done) == 24 and all(done), outs  # both did a share


def test_a_killed_batch_s_claims_come_back_after_their_lease(tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 12)
    env = {**os.environ, "VHD_KEY": KEY}
    store_path = tmp_path / "m" / ".vhd-annotator" / "annotations.sqlite"
    with FakeServer(api_key=KEY, answers={"judge": judge_by_colour}, token_delay=0.02) as srv:
        child = subprocess.Popen(_batch_cmd(tmp_path / "m", srv.base_url, "--concurrency", "3", "--claim-lease", "2"),
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        held: list[Any] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not held:
            if store_path.exists():
                with Store.open(store_path) as st:
                    if st.counts().by_status.get("debated", 0) >= 2:
                        held = st.claims()
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert held, "the batch never held a claim while it ran"
        with Store.open(store_path) as st:
            orphaned = st.claims(include_expired=True)
            assert orphaned and all(f"pid {child.pid}" in c.owner for c in orphaned)
            done_before = {p for p in truth if st.debates(p)}
            # Live claims keep the items from everybody else until they run out...
            while st.claims():
                time.sleep(0.1)
            # ...then they are back in the queue, with the attempt counted.
            retaken = st.claim_item(orphaned[0].path, "test", lease_seconds=60)
            assert retaken is not None and retaken.attempts == orphaned[0].attempts + 1
            st.release_claim(retaken)
        srv.token_delay = 0.001  # the rerun only has to finish the rest: no need to stream slowly
        before = srv.stats.requests
        rerun = subprocess.run(_batch_cmd(tmp_path / "m", srv.base_url), env=env, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr
        assert srv.stats.requests - before == 5 * (12 - len(done_before))
    with Store.open(store_path) as st:
        for rel, decision in truth.items():
            assert [d.decision for d in st.debates(rel)] == [decision], rel
        assert st.claims(include_expired=True) == []


# ---------------------------------------------------------------- a dead server stops the run early


@pytest.mark.asyncio
async def test_a_server_that_stops_answering_stops_the_run_after_a_few_items(server: FakeServer, tmp_path: Path) -> None:
    truth = make_folder(tmp_path / "m", 10)
    store = open_store(tmp_path / "m")
    s = settings_for(server.base_url, turn_timeout=3, attempts=2, retry_base_delay=0.01)
    run = BatchRun(store, s, sorted(truth), concurrency=1, use_cache=False)
    async for ev in run.run():
        if isinstance(ev, ItemFinished) and run.progress.done == 2 and not server.fault_rates:
            server.fault_rates = {"hang": 1.0}  # from now on every request hangs
        last = ev
    assert isinstance(last, BatchStopped) and last.reason == STOP_SERVER
    p = last.progress
    assert p.done >= 2 and [f.kind for f in p.failures[-DEAD_SERVER_AFTER:]] == ["timeout"] * DEAD_SERVER_AFTER
    assert p.stop_message.startswith("the server stopped answering: 3 items in a row failed (no answer in time)")
    # The rest was never started: no request, no record, so a rerun does them.
    started = {path for path in truth if store.debates(path)}
    assert len(started) == p.done + p.failed < 10
    assert all(store.row(path).status == "new" for path in truth if path not in started)


def _server_process(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "fakeserver.py"), "--api-key", KEY, *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


@pytest.mark.asyncio
async def test_a_killed_server_is_a_server_that_stopped_answering_not_a_wrong_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, KEY)
    truth = make_folder(tmp_path / "m", 10)
    store = open_store(tmp_path / "m")
    proc, base_url = _server_process()
    try:
        run = BatchRun(store, settings_for(base_url, retry_base_delay=0.01), sorted(truth), concurrency=1, use_cache=False)
        async for ev in run.run():
            if isinstance(ev, ItemFinished) and run.progress.done == 2 and proc.poll() is None:
                proc.kill()  # connections refused from now on
                proc.wait()
            last = ev
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert isinstance(last, BatchStopped) and last.reason == STOP_SERVER, last.progress.failures
    assert "the connection was refused or broke" in last.progress.stop_message
    assert last.progress.failed == DEAD_SERVER_AFTER and last.progress.done in (2, 3)


def test_cli_stops_early_on_a_dead_server_and_refuses_numbers_out_of_range(tmp_path: Path) -> None:
    make_folder(tmp_path / "m", 8)
    env = {**os.environ, "VHD_KEY": KEY}
    with FakeServer(api_key=KEY, fault_rates={"hang": 1.0}) as srv:
        out = subprocess.run(_batch_cmd(tmp_path / "m", srv.base_url, "--concurrency", "1", "--timeout", "0.5", "--store", str(tmp_path / "s.sqlite")),
                             env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr
    assert "stopped: the server stopped answering: 3 items in a row failed (no answer in time)" in out.stderr
    assert "· failed 3 ·" in out.stderr and "Traceback" not in out.stderr
    with Store.open(tmp_path / "s.sqlite") as st:
        assert st.counts().by_status == {**st.counts().by_status, "error": 3, "new": 5}
    for option, value, words in (("--rounds", "200", "must be at most 10"), ("--concurrency", "5000", "must be at most 64"),
                                 ("--timeout", "inf", "must be a finite number"), ("--timeout", "0", "must be more than 0"),
                                 ("--frames", "0", "must be at least 1"), ("--max-side", "100000", "must be at most 8,192"),
                                 ("--rpm", "10000000", "must be at most 100,000"), ("--limit", "x", "not a whole number"),
                                 ("--budget-usd", "nan", "must be a finite number"), ("--budget-tokens", "1e13", "not a whole number"),
                                 ("--claim-lease", "0", "must be at least 1")):
        bad = subprocess.run(_batch_cmd(tmp_path / "m", "http://127.0.0.1:9/v1", option, value), env=env, capture_output=True, text=True, timeout=60)
        reason = bad.stderr.strip().splitlines()[-1]  # after argparse's usage lines: one line that names the option
        assert bad.returncode == 2 and words in reason and option in reason, (option, bad.stderr)


def test_cli_summary_says_by_how_much_a_run_went_over_its_budget(tmp_path: Path) -> None:
    make_folder(tmp_path / "m", 3)
    env = {**os.environ, "VHD_KEY": KEY}
    with FakeServer(api_key=KEY) as srv:
        out = subprocess.run(_batch_cmd(tmp_path / "m", srv.base_url, "--budget-tokens", "1000"), env=env, capture_output=True, text=True, timeout=300)
        assert srv.stats.requests == 5
    assert out.returncode == 0, out.stderr
    tokens = int(re.search(r"failed 0 · (\d+) tokens", out.stderr).group(1))  # type: ignore[union-attr]
    assert f"budget: the run went over the budget of 1,000 tokens by {tokens - 1000:,}" in out.stderr
    assert "stopped at the budget" in out.stderr
