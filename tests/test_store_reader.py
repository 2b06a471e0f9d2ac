"""Store.reader(): a read-only second connection for work off the GUI thread."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vhd_gui.store import StoreError, StoreReadOnly
from vhd_gui.store_api import open_store

from helpers import eventually


def test_the_reader_sees_each_committed_write_and_cannot_write(store_target: str, tmp_path: Path) -> None:
    store = open_store(store_target, root=tmp_path)
    store.add_item(tmp_path / "a.png", "image")
    reader = store.reader()
    assert reader.count() == 1 and reader.root == store.root
    store.add_item(tmp_path / "b.png", "image")
    store.record_decision("b.png", "yes", category="spam")
    assert reader.count() == 2 and reader.categories() == ["spam"]
    with pytest.raises(StoreReadOnly, match="read-only"):
        reader.add_item(tmp_path / "c.png", "image")
    # and the connection itself cannot either
    with pytest.raises(sqlite3.OperationalError if store.backend == "sqlite" else StoreError, match="readonly|read-only"):
        reader._conn.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
    reader.close()
    store.close()


def test_external_change_counts_other_connections_only(store_target: str, tmp_path: Path) -> None:
    store = open_store(store_target, root=tmp_path)
    assert store.external_change() is False  # the first look takes the baseline
    store.add_item(tmp_path / "a.png", "image")
    assert store.external_change() is False  # its own write
    with open_store(store_target, root=tmp_path) as other:
        other.add_item(tmp_path / "b.png", "image")
    assert eventually(store.external_change)  # PostgreSQL: the notification follows the commit
    assert store.external_change() is False
    store.close()
