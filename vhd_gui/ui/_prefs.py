"""The window's own preferences, kept in QSettings: view options, the annotation file, and the
window's geometry and splitters. Nothing here touches the store or the debate settings."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow, QSplitter

from vhd_gui.ui._actions import DEFAULT_CATEGORIES

ANNOTATION_FILE = {"vhd11k-json": "annotations_vhd11k.json", "vhd11k-csv": "annotations_vhd11k.csv"}
DEFAULT_UI_PREFS: dict[str, Any] = {
    "safe_view": True,
    "safe_view_grayscale": False,
    "auto_advance": True,
    "export_path": "",
    "export_format": "vhd11k-json",
    # The harmful categories of the picker, in order: the first ten are on the digit keys.
    "categories": list(DEFAULT_CATEGORIES),
}
_BOOL_PREFS = ("safe_view", "safe_view_grayscale", "auto_advance")
_GROUP = "ui"


def load_prefs(qsettings: QSettings) -> dict[str, Any]:
    """The saved preferences, each one checked, the default where none is saved."""
    prefs = dict(DEFAULT_UI_PREFS)
    qsettings.beginGroup(_GROUP)
    try:
        for key, default in DEFAULT_UI_PREFS.items():
            value = qsettings.value(key, default)
            if key in _BOOL_PREFS:
                value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
            elif key == "categories":
                value = clean_categories(value)
            prefs[key] = value
    finally:
        qsettings.endGroup()
    if prefs["export_format"] not in ANNOTATION_FILE:
        prefs["export_format"] = "vhd11k-json"
    return prefs


def clean_categories(value: object) -> list[str]:
    """A saved category list as a list of distinct names; the built-in ten when it is unusable.
    (An INI file gives back a one-element list as a plain string.)"""
    names = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
    out: list[str] = []
    for name in names:
        text = str(name).strip()
        if text and text.lower() not in {n.lower() for n in out}:
            out.append(text)
    return out or list(DEFAULT_CATEGORIES)


def save_prefs(qsettings: QSettings, prefs: dict[str, Any]) -> None:
    qsettings.beginGroup(_GROUP)
    try:
        for key, value in prefs.items():
            if key in DEFAULT_UI_PREFS:
                qsettings.setValue(key, value)
    finally:
        qsettings.endGroup()


def restore_layout(qsettings: QSettings, window: QMainWindow, main: QSplitter, right: QSplitter) -> None:
    for key, restore in (("window/geometry", window.restoreGeometry), ("window/state", window.restoreState),
                         ("window/main_splitter", main.restoreState), ("window/right_splitter", right.restoreState)):
        value = qsettings.value(key)
        if isinstance(value, QByteArray) and not value.isEmpty():
            restore(value)


def save_layout(qsettings: QSettings, window: QMainWindow, main: QSplitter, right: QSplitter) -> None:
    qsettings.setValue("window/geometry", window.saveGeometry())
    qsettings.setValue("window/state", window.saveState())
    qsettings.setValue("window/main_splitter", main.saveState())
    qsettings.setValue("window/right_splitter", right.saveState())
