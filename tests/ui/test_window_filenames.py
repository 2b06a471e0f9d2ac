"""The window on a folder whose file names are not all UTF-8: listed readably, thumbnailed,
shown and debated from the real file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import key, opened, select, wait_until
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from helpers import write_image

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]


async def test_a_name_that_is_not_utf8_is_listed_thumbnailed_and_debated(make_window: Any, tmp_path: Path, qtbot: Any) -> None:
    folder = tmp_path / "media"
    write_image(folder / "plain.png", (200, 150), (30, 200, 30))
    write_image(folder / "tmp.png", (200, 150), (200, 30, 30))
    os.rename(folder / "tmp.png", os.fsencode(folder) + b"/caf\xe9.png")  # Latin-1: not UTF-8
    w = await opened(make_window, folder)
    assert sorted(w.model.paths) == ["caf\\xe9.png", "plain.png"]  # the escaped key, readable
    select(w, "caf\\xe9.png")
    await wait_until(lambda: w.current == "caf\\xe9.png", what="the item")
    await wait_until(lambda: w.viewer._image is not None, what="the picture from the real file")
    assert not w.viewer._image.isNull() and w.viewer._image.width() == 200
    row = w.model.paths.index("caf\\xe9.png")

    def thumb() -> Any:
        return w.model.data(w.model.index(row), Qt.ItemDataRole.DecorationRole)

    await wait_until(lambda: isinstance(thumb(), QImage), what="its thumbnail")
    assert not thumb().isNull()
    recorded: list[str] = []
    w.did_record_debate.connect(recorded.append)
    key(qtbot, w, Qt.Key.Key_R)
    await wait_until(lambda: recorded and not w.debate_running, timeout=60, what="the verdict")
    assert recorded == ["caf\\xe9.png"]
    rec = w.store.get_record("caf\\xe9.png")
    assert rec is not None and rec.debate is not None and rec.debate.status == "debated"
    assert rec.debate.media_sha256  # the real file's bytes were hashed and sent
