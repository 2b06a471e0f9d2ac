"""Every keyboard action of the window in one table: the help dialog, the settings dialog and
the window's QActions are all built from it, so a key shown is a key that works."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSettings

# The ten default harmful categories of the picker, on the digit keys 1..9, 0. The user can
# rename, reorder, add and remove them in Settings → View; the first ten are on the keys.
DEFAULT_CATEGORIES: tuple[str, ...] = (
    "violence",
    "gore or bloody scene",
    "sexual content or nudity",
    "self-harm or distress",
    "harassment or bullying",
    "hate or extremism",
    "illegal activity or weapons",
    "drugs, alcohol or smoking",
    "gambling",
    "animal abuse",
)


@dataclass(frozen=True, slots=True)
class ActionSpec:
    id: str
    label: str
    default_key: str  # QKeySequence text, PortableText form; "" = no key


def _category_actions() -> list[ActionSpec]:
    out = []
    for i, name in enumerate(DEFAULT_CATEGORIES):
        key = str((i + 1) % 10)
        out.append(ActionSpec(f"category_{i + 1}", f"Harmful: {name}", key))
    return out


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("run", "Run the debate on this item", "R"),
    ActionSpec("rerun", "Run the debate again (keeps the old one in the history)", "Shift+R"),
    ActionSpec("cancel", "Cancel the running debate / leave the category picker", "Esc"),
    ActionSpec("accept", "Accept the model's verdict (or confirm the typed category)", "Return"),
    ActionSpec("harmful", "Override: harmful (then pick a category or type one)", "H"),
    ActionSpec("not_harmful", "Override: not harmful", "N"),
    *_category_actions(),
    ActionSpec("note", "Write a note for the next decision", "Ctrl+N"),
    ActionSpec("undo", "Undo the last decision on this item", "Ctrl+Z"),
    ActionSpec("next", "Next item", "D"),
    ActionSpec("prev", "Previous item", "A"),
    ActionSpec("next_arrow", "Next item (arrow key)", "Right"),
    ActionSpec("prev_arrow", "Previous item (arrow key)", "Left"),
    ActionSpec("next_undecided", "Next item without a human decision", "J"),
    ActionSpec("walk_queue", "Walk the review queue: next/previous follow the most suspicious first (toggle)", "Q"),
    ActionSpec("walk_audit", "Walk the drawn audit sample: next/previous follow the sample (toggle)", "Shift+Q"),
    ActionSpec("reveal", "Safe view: reveal or hide this item", "Space"),
    ActionSpec("zoom_in", "Zoom in", "="),
    ActionSpec("zoom_out", "Zoom out", "-"),
    ActionSpec("zoom_fit", "Fit the image to the pane", "F"),
    ActionSpec("search", "Search by name", "Ctrl+F"),
    ActionSpec("show_debate", "Show the debate panel", "Ctrl+1"),
    ActionSpec("show_batch", "Show the batch panel", "Ctrl+2"),
    ActionSpec("show_review", "Show the Review panel", "Ctrl+3"),
    ActionSpec("open_folder", "Open a folder", "Ctrl+O"),
    ActionSpec("open_store", "Open an annotation store", "Ctrl+Shift+O"),
    ActionSpec("import", "Import annotations (VHD11K CSV/JSON, JSONL)", "Ctrl+I"),
    ActionSpec("export", "Export annotations", "Ctrl+E"),
    ActionSpec("settings", "Settings", "Ctrl+,"),
    ActionSpec("help", "Keyboard help", "F1"),
    ActionSpec("quit", "Quit", "Ctrl+Q"),
)

ACTION_BY_ID: dict[str, ActionSpec] = {a.id: a for a in ACTIONS}
DIGIT_KEYS = len(DEFAULT_CATEGORIES)  # category_1 .. category_10 on 1..9, 0


def category_labels(categories: list[str]) -> dict[str, str]:
    """The label of each digit-key action for this category list."""
    out = {}
    for i in range(DIGIT_KEYS):
        name = categories[i] if i < len(categories) else ""
        out[f"category_{i + 1}"] = f"Harmful: {name}" if name else "Harmful: (no category on this key)"
    return out


def action_labels(categories: list[str]) -> dict[str, str]:
    """Action id → the words shown for it (help, settings), with the user's categories."""
    return {spec.id: spec.label for spec in ACTIONS} | category_labels(categories)
_SETTINGS_GROUP = "shortcuts"


def load_shortcuts(settings: QSettings) -> dict[str, str]:
    """Action id → key text: the user's choice from QSettings, else the default."""
    out: dict[str, str] = {}
    settings.beginGroup(_SETTINGS_GROUP)
    try:
        for spec in ACTIONS:
            value = settings.value(spec.id, spec.default_key)
            out[spec.id] = str(value) if value is not None else spec.default_key
    finally:
        settings.endGroup()
    return out


def save_shortcuts(settings: QSettings, keys: dict[str, str]) -> None:
    settings.beginGroup(_SETTINGS_GROUP)
    try:
        for spec in ACTIONS:
            if spec.id not in keys:
                continue
            if keys[spec.id] == spec.default_key:
                settings.remove(spec.id)
            else:
                settings.setValue(spec.id, keys[spec.id])
    finally:
        settings.endGroup()
