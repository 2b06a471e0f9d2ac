"""How the window opens a store, and the banner over a store that is a copy of a read-only one.

A damaged store is never opened: a dialog names the damage, the newest backup and the command
that saves what is readable, so no decision is made into a file that cannot keep it. A store
that cannot be written (a read-only medium) is not edited in place: the window works on its
writable copy (made on first use, found again afterwards), says so in a banner ("read-only:
decisions go to ..."), and lets the person put that copy somewhere else. Where a copy cannot be
made, the store opens read-only and the banner says decisions cannot be saved.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from vhd_gui.store import Store, StoreDamaged, StoreError
from vhd_gui.store_api import is_server_url, open_store

_CHOSEN_COPIES = "read_only_copies"  # QSettings group: read-only store path -> the copy chosen for it


def _key(store_path: str) -> str:
    return hashlib.sha256(os.fsencode(store_path)).hexdigest()[:24]


def chosen_copies(qsettings: QSettings) -> dict[str, str]:
    """Where the person put the copies of read-only stores (read on the GUI thread, for
    :func:`open_for_window`)."""
    qsettings.beginGroup(_CHOSEN_COPIES)
    try:
        return {k: str(qsettings.value(k) or "") for k in qsettings.childKeys()}
    finally:
        qsettings.endGroup()


def open_for_window(path: Path | str, chosen: dict[str, str], *, root: Path | None = None) -> tuple[Store, str]:
    """The store for ``path`` (a folder, a store file, or a ``postgresql://`` URL given as a
    str, whose media are in the folder ``root``) and the banner text ('' for none).

    Runs off the GUI thread: the quick check of a large store takes a few hundred ms, a copy of
    a read-only one longer. Raises ``StoreDamaged``, ``StoreError`` or ``OSError``; the window
    tells the person with :func:`explain_open_failure`.
    """
    if is_server_url(path):
        return open_store(str(path), root=root, create=True), ""  # an empty database becomes a store; a missing one is an error
    path = Path(path)
    if path.is_dir():
        store = Store.for_folder(path, daily_backup=False)  # the window backs up on a lane of its own
    elif path.is_file():
        store = open_store(path, create=False, daily_backup=False)
    else:
        raise StoreError(f"{path} does not exist")
    if not store.read_only:
        return store, banner_text(store)
    source = store
    try:
        store = source.writable_copy(chosen.get(_key(str(source.path))) or None)
    except (StoreError, OSError) as exc:
        text = f"read-only ({source.read_only_reason}): decisions cannot be saved, because no copy could be made ({exc})"
        return source, text
    source.close()
    return store, banner_text(store)


def explain_open_failure(parent: QWidget, exc: BaseException) -> bool:
    """Tell the person why a store was not opened; False for an exception that is not about the
    store (a bug: the caller's default error path takes it)."""
    if isinstance(exc, StoreDamaged):
        backup = f"The newest backup is {exc.backup}." if exc.backup else "There is no backup of it."
        QMessageBox.critical(
            parent,
            "The store is damaged",
            f"{exc.path} is damaged ({exc.detail}), so it was not opened and nothing was written to it.\n\n"
            f"{backup}\n\nTo save what is still readable into a new store, run:\n"
            f"vhd-annotator store recover {exc.path} NEW.sqlite",
        )
        return True
    if isinstance(exc, (StoreError, OSError)):
        QMessageBox.warning(parent, "Cannot open", str(exc))
        return True
    return False


def banner_text(store: Store) -> str:
    original = store.copy_of
    return f"read-only: decisions go to {store.path} (a copy of {original})" if original else ""


def choose_copy_place(parent: QWidget, store: Store, qsettings: QSettings) -> Path | None:
    """Ask where the decisions on a read-only store's copy should go from now on; copy it there.

    Returns the new copy's path (remembered for the next time the read-only store is opened),
    or None when the person cancelled or the place cannot take it (they are told why).
    """
    original = store.copy_of
    path, _ = QFileDialog.getSaveFileName(
        parent, "Where should the decisions go?", str(store.path.parent), "Annotation store (*.sqlite *.db);;All files (*)"
    )
    if not path:
        return None
    target = Path(path)
    if target.exists():
        QMessageBox.warning(parent, "Choose a new file", f"{target} already exists; choose the name of a new file.")
        return None
    try:
        store.writable_copy(target).close()
    except (StoreError, OSError) as exc:
        QMessageBox.warning(parent, "Cannot copy the store there", str(exc))
        return None
    if original:
        qsettings.setValue(f"{_CHOSEN_COPIES}/{_key(original)}", str(target))
    return target


class StoreBanner(QFrame):
    """A strip over the window while decisions go somewhere other than the store opened."""

    did_ask_to_move = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("storeBanner")
        self.setStyleSheet("#storeBanner { background: palette(highlight); } #storeBanner QLabel { color: palette(highlighted-text); }")
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.move_button = QPushButton("Put the decisions elsewhere…")
        self.move_button.clicked.connect(self.did_ask_to_move)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.move_button)
        self.hide()

    def show_text(self, text: str, can_move: bool = True) -> None:
        self.text.setText(text)
        self.move_button.setVisible(can_move)
        self.setVisible(bool(text))
