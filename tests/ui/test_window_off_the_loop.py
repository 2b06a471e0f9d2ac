"""What the window reads off the GUI thread (the list, an item's record, the next undecided item,
the store itself) reaches the screen only while it is still what the person asked for, and key
presses never wait for it: each sequence driven through the real window on a real store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import Dialogs, key, opened, settled, wait_until
from PySide6.QtCore import Qt

from vhd_gui.store import Store

from helpers import write_image

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]

BULK = 60_000  # enough rows that reading the list takes tens of milliseconds


def big_project(folder: Path) -> None:
    """Six pictures on disk (first by name), a debate on the fourth, and many more rows in the
    store, so that the reader connection is busy for a while with every list it reads."""
    from vhd_gui.commit import commit_debate
    from vhd_gui.engine import VerdictReached
    from vhd_gui.protocol import Verdict
    from vhd_gui.record import DebateRecord

    for i in range(6):
        write_image(folder / f"a{i}.png", (32, 24), (40 * i, 90, 90))
    with Store.for_folder(folder) as s:
        s.upsert_items((f"bulk/{i:06d}.png", "image", i, 1.0) for i in range(BULK))
        s.upsert_items((f"a{i}.png", "image", 1, 1.0) for i in range(6))
        rec = DebateRecord(path="a3.png", kind="image", status="debated", decision="yes", harmful_type="weapons", judge_raw="Yes, weapons.")
        commit_debate(s, VerdictReached(Verdict("yes", "weapons"), rec))


def watch_drawn(w: Any) -> list[tuple[str, str | None]]:
    """Every record drawn, with the item that was current when it was drawn."""
    drawn: list[tuple[str, str | None]] = []
    w.did_show_item.connect(lambda rel: drawn.append((rel, w.current)))
    return drawn


async def test_a_filter_change_superseded_by_another_applies_only_the_latest(make_window: Any, media_folder: Path) -> None:
    w = await opened(make_window, media_folder)
    before = list(w.model.paths)
    applied: list[list[str]] = []
    w.model.modelReset.connect(lambda: applied.append(list(w.model.paths)))

    w.browser.search.setText("knife")
    w.browser.search.setText("beach")  # typed on before the first list came back
    # Nothing was read on the GUI thread: the list still shows its rows and says it is reading.
    assert w.model.paths == before and w.list_pending
    assert w.browser.busy.isVisibleTo(w) and "reading" in w.browser.busy.text()

    await settled(w)
    assert applied == [["b_beach.png"]]  # the knife's list never reached the screen
    assert w.model.paths == ["b_beach.png"] and w.current == "b_beach.png"
    assert w.browser.counts.text() == "1 shown of 4" and not w.browser.busy.isVisibleTo(w)


async def test_rapid_keys_decide_the_right_items_while_the_reader_is_busy(make_window: Any, tmp_path: Path, qtbot: Any) -> None:
    folder = tmp_path / "big"
    big_project(folder)
    w = await opened(make_window, folder)
    await settled(w)
    assert w.current == "a0.png"
    drawn = watch_drawn(w)

    w.browser.kind.setCurrentIndex(1)  # "image": a list of 60,006 rows read on the reader connection
    assert w.list_pending
    for k in (Qt.Key.Key_N, Qt.Key.Key_N, Qt.Key.Key_N, Qt.Key.Key_Return):
        key(qtbot, w, k)
    assert w.current in ("a3.png", "a4.png")  # the keys never waited for the list or a record

    await settled(w)
    labels = {rel: getattr(w.store.human_decision(rel), "label", None) for rel in (f"a{i}.png" for i in range(6))}
    assert labels == {"a0.png": "no", "a1.png": "no", "a2.png": "no", "a3.png": "yes", "a4.png": None, "a5.png": None}
    assert w.store.human_decision("a3.png").category == "weapons"  # type: ignore[union-attr]  # the model's verdict accepted
    assert w.current == "a4.png" and len(w.model.paths) == BULK + 6
    assert drawn and all(rel == current for rel, current in drawn), drawn  # never another item's record
    assert drawn[-1][0] == "a4.png" and "no debate yet" in w.verdict.model_verdict.text()


async def test_enter_then_undo_at_once_leaves_the_item_undecided(make_window: Any, tmp_path: Path, qtbot: Any) -> None:
    folder = tmp_path / "big"
    big_project(folder)
    w = await opened(make_window, folder)
    for _ in range(3):
        key(qtbot, w, Qt.Key.Key_Down)
    await settled(w)
    assert w.current == "a3.png"
    w.browser.kind.setCurrentIndex(1)  # the reader is busy again
    key(qtbot, w, Qt.Key.Key_Return)
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    await settled(w)
    assert w.store.human_decision("a3.png") is None
    assert w.current == "a3.png" and not w.unsaved.pending


async def test_next_undecided_skips_decided_items_and_is_dropped_when_the_person_moved(make_window: Any, tmp_path: Path, qtbot: Any) -> None:
    folder = tmp_path / "big"
    big_project(folder)
    with Store.for_folder(folder) as s:
        for i in (1, 2):
            s.record_decision(f"a{i}.png", "no")
    w = await opened(make_window, folder)
    await settled(w)
    key(qtbot, w, Qt.Key.Key_J)
    await wait_until(lambda: w.current == "a3.png", what="the next undecided item")

    # J, then a move before the answer came: the answer is not applied over the person's move.
    w.browser.kind.setCurrentIndex(1)  # keeps the reader busy, so J's answer comes late
    key(qtbot, w, Qt.Key.Key_J)
    key(qtbot, w, Qt.Key.Key_Up)
    await settled(w)
    assert w.current == "a2.png"


async def test_opening_a_store_does_not_wait_and_a_damaged_one_still_shows_its_dialog(
    make_window: Any, tmp_path: Path, dialogs: Dialogs
) -> None:
    from test_store_open import damage_items, project

    folder = tmp_path / "big"
    big_project(folder)
    w = make_window()
    opened_paths: list[str] = []
    w.did_open.connect(opened_paths.append)
    w.open_path(folder)
    # The quick check and the first list run off the GUI thread; the window says what it opens.
    assert w.store is None and w.opening
    assert "opening" in w.status_counts.text() and folder.name in w.status_counts.text()
    await wait_until(lambda: opened_paths, what="the store open")
    assert w.store is not None and not w.opening
    await settled(w)
    assert len(w.model.paths) == BULK + 6

    # Another folder asked for while one opens: only the last one asked for is opened.
    other = tmp_path / "other"
    write_image(other / "x.png", (16, 16), (1, 2, 3))
    opened_paths.clear()
    w.open_path(folder)
    w.open_path(other)
    await wait_until(lambda: not w.opening, what="the opens")
    assert [Path(p).parent.parent for p in opened_paths] == [other]
    assert w.store.root == other

    # A damaged store: its dialog, nothing opened, and the store that was open stays open.
    bad = tmp_path / "bad"
    path = project(bad)
    damage_items(path)
    damaged = path.read_bytes()
    dialogs.shown.clear()
    w.open_path(bad)
    await wait_until(lambda: dialogs.shown, what="the dialog")
    [(kind, title, _text)] = dialogs.shown
    assert kind == "critical" and title == "The store is damaged"
    assert path.read_bytes() == damaged
    assert w.store is not None and w.store.root == other and not w.opening


async def test_a_daily_backup_that_cannot_be_written_is_said_not_swallowed(make_window: Any, tmp_path: Path) -> None:
    from vhd_gui.store import backup_dir, default_store_path

    folder = tmp_path / "p"
    write_image(folder / "a.png", (16, 16), (1, 2, 3))
    with Store.for_folder(folder, daily_backup=False) as s:
        s.upsert_items([("a.png", "image", 1, 1.0)])
    backup_dir(default_store_path(folder)).write_text("a file where the backups folder goes")
    w = await opened(make_window, folder)
    # The backup runs off the GUI thread once a day; what it could not do reaches the person.
    await wait_until(lambda: "daily backup" in w.statusBar().currentMessage(), what="the backup's warning")
    assert w.statusBar().currentMessage().startswith("Store: could not write the daily backup")
    assert w.store is not None and w.store.warnings == []  # said once


async def test_a_folder_too_big_to_walk_in_the_window_s_process_is_listed_whole(make_window: Any, tmp_path: Path, caplog: Any) -> None:
    from test_scanning import big_folder

    from vhd_gui.scanning import IN_PROCESS_FILES

    n = IN_PROCESS_FILES + 600
    folder = big_folder(tmp_path / "big", n)
    w = make_window()
    found: list[int] = []
    w.did_finish_scan.connect(found.append)
    w.open_path(folder)
    await wait_until(lambda: found, timeout=60, what="the scan")
    # the first files walked here, the rest by the helper process: each listed and stored once
    assert found == [n] and w.model.rowCount() == n and len(set(w.model.paths)) == n
    assert w.store is not None and w.store.count() == n
    assert "scan helper" not in caplog.text  # it ran to its end: nothing was walked again here


async def test_the_agent_libraries_load_once_the_folder_is_listed_and_the_list_is_still(
    make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from vhd_gui.ui import _main_window

    monkeypatch.setattr(_main_window, "WARM_UP_QUIET_MS", 1000)
    folder = tmp_path / "p"
    for i in range(30):
        write_image(folder / f"{i:02d}.png", (16, 16), (i, 2, 3))
    w = make_window()
    found: list[int] = []
    w.did_finish_scan.connect(found.append)
    w.open_path(folder)
    w.warm_up_when_idle()  # as the app asks a second after it shows
    assert not w.debates.warming  # the folder is being opened: not now
    await wait_until(lambda: found, what="the scan")
    for _ in range(6):  # someone moving down the list: still not now
        w.step(1)
        await asyncio.sleep(0.05)
        assert not w.debates.warming
    import gc

    gc.unfreeze()
    await wait_until(lambda: w.debates.warming, timeout=10, what="the warm-up once the list is still")
    await w.debates.ready()
    await wait_until(lambda: gc.get_freeze_count() > 0, what="the loaded libraries kept out of full collections")


async def test_every_worker_is_running_before_the_first_folder_opens(make_window: Any, media_folder: Path) -> None:
    """A worker started later from the GUI thread, while a folder is being scanned, kept the
    window waiting until it had begun: so none is started once a folder opens."""
    w = make_window()
    await wait_until(lambda: all(t.is_alive() for t in w.bg.threads()) and len(w.bg.threads()) >= 14, what="the workers")
    before = set(w.bg.threads())
    lanes = {t.name.rsplit("_", 1)[0] for t in before}
    assert {"vhd-bg", "vhd-scan", "vhd-list", "vhd-open", "vhd-backup", "vhd-debate-writes", "vhd-records", "vhd-thumbs"} <= lanes
    assert sum(t.name.startswith("vhd-bg_") for t in before) == 4 and sum(t.name.startswith("vhd-thumbs_") for t in before) == 3

    done: list[int] = []
    w.did_finish_scan.connect(done.append)
    w.open_path(media_folder)
    await wait_until(lambda: done and w.current is not None and not w.figures_pending, what="the folder")
    w.side_tabs.setCurrentIndex(2)  # the Review panel's figures too
    await wait_until(lambda: w.review is not None and w.review.summary() is not None, what="the Review figures")
    assert set(w.bg.threads()) == before
