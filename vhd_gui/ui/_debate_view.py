"""The debate, one panel per role side by side, rounds stacked inside each panel.

Tokens are appended at the end of a QPlainTextEdit through a cursor, and only on a short
timer (many tokens per paint), so a fast stream costs a few small inserts per frame instead of
re-laying out the whole text for every token.

A reasoning model's thinking (streamed apart from its answer by the engine) goes to a second,
collapsed box in the same panel: a "Thinking" button above the argument says how much there is
and opens it. The argument box only ever holds what the agent argued.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vhd_gui.protocol import Role, Turn
from vhd_gui.record import DebateRecord, TurnRecord

FLUSH_MS = 40
_ROLES = (Role.AFFIRMATIVE, Role.NEGATIVE, Role.JUDGE, Role.CRITIC)
_ROLE_COLOURS = {Role.AFFIRMATIVE: "#c0392b", Role.NEGATIVE: "#2e7d4f", Role.JUDGE: "#3b5fb0", Role.CRITIC: "#8a5a00"}


def _fmt(*, bold: bool = False, colour: str | None = None, italic: bool = False, scale: float = 1.0) -> QTextCharFormat:
    f = QTextCharFormat()
    if bold:
        f.setFontWeight(QFont.Weight.Bold)
    if italic:
        f.setFontItalic(True)
    if colour:
        f.setForeground(QColor(colour))
    if scale != 1.0:
        f.setFontPointSize(max(7.0, QFont().pointSizeF() * scale))
    return f


@dataclass
class _PanelState:
    turn_start: int = -1  # document position where the current turn's text begins
    buffer: list[str] = field(default_factory=list)
    thinking_turn: Turn | None = None  # the turn whose thinking the thinking box ends with
    thinking_start: int = -1  # where that turn's thinking begins in the thinking box
    thinking_words: int = 0


class RolePanel(QFrame):
    """One agent's column: its turns, stacked, each with time and tokens when done."""

    def __init__(self, role: Role, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(f"<b>{role.display_name}</b>")
        self.title.setStyleSheet(f"color: {_ROLE_COLOURS[role]};")
        self.state_label = QLabel("")
        self.state_label.setStyleSheet("color: palette(mid);")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setObjectName(f"panel_{role.value}")
        self.text.setUndoRedoEnabled(False)
        self.text.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        # The model's thinking: apart from the argument, collapsed until asked for.
        self.thinking_button = QToolButton()
        self.thinking_button.setCheckable(True)
        self.thinking_button.setAutoRaise(True)
        self.thinking_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.thinking_button.setArrowType(Qt.ArrowType.RightArrow)
        self.thinking_button.toggled.connect(self._show_thinking)
        self.thinking_button.hide()
        self.thinking = QPlainTextEdit()
        self.thinking.setReadOnly(True)
        self.thinking.setObjectName(f"thinking_{role.value}")
        self.thinking.setUndoRedoEnabled(False)
        self.thinking.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.thinking.setStyleSheet("QPlainTextEdit { color: palette(mid); font-style: italic; }")
        self.thinking.hide()
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.state_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(head)
        lay.addWidget(self.thinking_button)
        lay.addWidget(self.thinking, 1)
        lay.addWidget(self.text, 2)
        self._s = _PanelState()
        self._plain = _fmt()
        self._header = _fmt(bold=True, colour=_ROLE_COLOURS[role])
        self._footer = _fmt(italic=True, colour="#7a7f88", scale=0.85)
        self._error = _fmt(bold=True, colour="#c0392b")

    # ---------------------------------------------------------------- writing
    def _insert(self, text: str, fmt: QTextCharFormat) -> None:
        cursor = QTextCursor(self.text.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text, fmt)

    def _at_bottom(self) -> bool:
        bar = self.text.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def _follow(self, was_at_bottom: bool) -> None:
        if was_at_bottom:
            bar = self.text.verticalScrollBar()
            bar.setValue(bar.maximum())

    def clear(self) -> None:
        self.text.clear()
        self.thinking.clear()
        self.thinking_button.setChecked(False)
        self.thinking_button.hide()
        self._s = _PanelState()
        self.state_label.setText("")

    # ---------------------------------------------------------------- thinking
    def add_thinking(self, turn: Turn, text: str) -> None:
        """Append a piece of ``turn``'s thinking to the (collapsed) thinking box."""
        if not text:
            return
        cursor = QTextCursor(self.thinking.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if self._s.thinking_turn != turn:
            self._s.thinking_turn = turn
            self._s.thinking_start = self.thinking.document().characterCount() - 1
            head = f"Round {turn.round + 1}" if turn.role.is_debater else turn.role.display_name
            cursor.insertText(("" if self.thinking.document().isEmpty() else "\n\n") + f"{head}\n", self._header)
        cursor.insertText(text, self._plain)
        self._s.thinking_words += len(text.split())
        self._label_thinking()

    def _drop_thinking(self, turn: Turn) -> None:
        """A retried turn's thinking goes with its text."""
        if self._s.thinking_turn != turn or self._s.thinking_start < 0:
            return
        cursor = QTextCursor(self.thinking.document())
        cursor.setPosition(self._s.thinking_start)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._s.thinking_turn, self._s.thinking_start = None, -1
        self._s.thinking_words = len(self.thinking.toPlainText().split())
        self._label_thinking()

    def _label_thinking(self) -> None:
        n = self._s.thinking_words
        self.thinking_button.setVisible(not self.thinking.document().isEmpty())
        self.thinking_button.setText(f"Thinking ({n} word{'s' if n != 1 else ''})")

    def _show_thinking(self, on: bool) -> None:
        self.thinking.setVisible(on)
        self.thinking_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def thinking_text(self) -> str:
        return self.thinking.toPlainText()

    def begin_turn(self, turn: Turn, model: str = "") -> None:
        self.flush()
        doc_empty = self.text.document().isEmpty()
        if turn.role.is_debater:
            self._insert(("" if doc_empty else "\n") + f"Round {turn.round + 1}\n", self._header)
        elif not doc_empty:
            self._insert("\n", self._plain)
        self._s.turn_start = self.text.document().characterCount() - 1
        self.state_label.setText(f"speaking… {model}".strip())

    def append(self, text: str) -> None:
        self._s.buffer.append(text)

    def flush(self) -> None:
        if not self._s.buffer:
            return
        text = "".join(self._s.buffer)
        self._s.buffer.clear()
        bottom = self._at_bottom()
        self._insert(text, self._plain)
        self._follow(bottom)

    def drop_turn(self, reason: str, turn: Turn | None = None) -> None:
        """A retry: remove what this turn streamed so far (its thinking too), and say why."""
        self._s.buffer.clear()
        if turn is not None:
            self._drop_thinking(turn)
        if self._s.turn_start >= 0:
            cursor = QTextCursor(self.text.document())
            cursor.setPosition(self._s.turn_start)
            cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
        self.state_label.setText(f"retrying: {reason}")

    def finish_turn(self, seconds: float, completion_tokens: int, prompt_tokens: int, cached_tokens: int = 0, attempts: int = 1) -> None:
        self.flush()
        parts = []
        if seconds:
            parts.append(f"{seconds:.1f} s")
        if completion_tokens or prompt_tokens:
            cached = f", {cached_tokens} cached" if cached_tokens else ""
            parts.append(f"{completion_tokens} tokens out, {prompt_tokens} in{cached}")
        if attempts > 1:
            parts.append(f"{attempts} attempts")
        if not parts:
            parts.append("imported")
        bottom = self._at_bottom()
        self._insert("\n" + " · ".join(parts) + "\n", self._footer)
        self._follow(bottom)
        self._s.turn_start = -1
        self.state_label.setText("")

    def fail(self, reason: str) -> None:
        self.flush()
        self._insert("\n" + reason + "\n", self._error)
        self.state_label.setText("failed")

    def plain_text(self) -> str:
        self.flush()
        return self.text.toPlainText()


class DebateView(QWidget):
    """The panels, plus a line saying what the debate is doing (and a Retry after a failure)."""

    retry_requested = Signal()
    did_finish_turn = Signal(str, int)  # role, round: for tests and the status bar

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panels: dict[Role, RolePanel] = {r: RolePanel(r) for r in _ROLES}
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        for p in self.panels.values():
            self.splitter.addWidget(p)
        self.panels[Role.CRITIC].hide()
        self.status = QLabel("No debate yet. Press R to run one.")
        self.status.setObjectName("debateStatus")
        self.status.setWordWrap(True)
        self.retry = QPushButton("Retry")
        self.retry.hide()
        self.retry.clicked.connect(self.retry_requested)
        line = QHBoxLayout()
        line.addWidget(self.status, 1)
        line.addWidget(self.retry)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(line)
        lay.addWidget(self.splitter, 1)
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self.flush)
        self._turn: Turn | None = None

    def panel(self, role: Role | str) -> RolePanel:
        return self.panels[Role(role)]

    def flush(self) -> None:
        for p in self.panels.values():
            p.flush()

    def clear(self, message: str = "") -> None:
        self._timer.stop()
        for p in self.panels.values():
            p.clear()
        self.panels[Role.CRITIC].hide()
        self._turn = None
        self.retry.hide()
        self.status.setStyleSheet("")
        self.status.setText(message)

    # ---------------------------------------------------------------- live debate
    def start(self, turns: tuple[Turn, ...] | list[Turn], what: str) -> None:
        self.clear(what)
        self.panels[Role.CRITIC].setVisible(any(t.role is Role.CRITIC for t in turns))
        self._timer.start()

    def begin_turn(self, turn: Turn, model: str, attempt: int) -> None:
        if self._turn is not None and self._turn != turn:
            self.panel(self._turn.role).flush()
        self._turn = turn
        if attempt == 1:
            self.panel(turn.role).begin_turn(turn, model)
        self.status.setText(f"{turn.label}: {model}" + (f" (attempt {attempt})" if attempt > 1 else ""))

    def append(self, turn: Turn, text: str) -> None:
        self.panel(turn.role).append(text)

    def retrying(self, turn: Turn, attempt: int, delay: float, reason: str) -> None:
        self.panel(turn.role).drop_turn(reason, turn)
        self.status.setText(f"{turn.label}: attempt {attempt} failed ({reason}); retrying in {delay:.1f} s")

    def finish_turn(self, turn: Turn, seconds: float, completion: int, prompt: int, cached: int) -> None:
        self.panel(turn.role).finish_turn(seconds, completion, prompt, cached)
        self.did_finish_turn.emit(turn.role.value, turn.round)

    def failed(self, turn: Turn | None, message: str) -> None:
        self._timer.stop()
        self.flush()
        target = self.panel(turn.role) if turn is not None else self.panel(Role.JUDGE)
        target.fail(message)
        self.status.setStyleSheet("color: #c0392b;")
        self.status.setText(f"The debate failed: {message}")
        self.retry.show()

    def cancelled(self) -> None:
        self._timer.stop()
        self.flush()
        if self._turn is not None:
            self.panel(self._turn.role).fail("(cancelled)")
        self.status.setText("Debate cancelled. R runs it again.")
        self._turn = None

    def apply(self, event: object, name: str) -> None:
        """Draw one engine event of the live debate on ``name`` (events it does not draw are
        left alone, so a newer engine's extra events do no harm)."""
        from vhd_gui.engine import DebateStarted, ThinkingReceived, TokenReceived, TurnFinished, TurnRetrying, TurnStarted

        if isinstance(event, TokenReceived):
            self.append(event.turn, event.text)
        elif isinstance(event, ThinkingReceived):
            self.panel(event.turn.role).add_thinking(event.turn, event.text)
        elif isinstance(event, TurnStarted):
            self.begin_turn(event.turn, event.model, event.attempt)
        elif isinstance(event, TurnFinished):
            self.finish_turn(event.turn, event.seconds, event.completion_tokens, event.prompt_tokens, event.cached_tokens)
        elif isinstance(event, TurnRetrying):
            self.retrying(event.turn, event.attempt, event.delay, event.reason)
        elif isinstance(event, DebateStarted):
            self.start(event.turns, f"Debating {name} ({len(event.turns)} turns)…")

    def finished(self, summary: str) -> None:
        self._timer.stop()
        self.flush()
        self._turn = None
        self.status.setStyleSheet("")
        self.status.setText(summary)

    # ---------------------------------------------------------------- stored debate
    def show_record(self, record: DebateRecord | None, summary: str = "") -> None:
        if record is None:
            self.clear("No debate yet. Press R to run one.")
            return
        self.clear()
        turns: list[TurnRecord] = list(record.turns)
        self.panels[Role.CRITIC].setVisible(any(t.role == Role.CRITIC.value for t in turns))
        for t in turns:
            try:
                role = Role(t.role)
            except ValueError:
                continue
            panel = self.panel(role)
            panel.begin_turn(Turn(role, t.round), t.model)
            panel.add_thinking(Turn(role, t.round), t.thinking)
            panel.append(t.text)
            panel.finish_turn(t.seconds, t.completion_tokens, t.prompt_tokens, t.cached_tokens, t.attempts)
        if record.status == "error":
            self.status.setStyleSheet("color: #c0392b;")
            self.status.setText(f"The last debate failed: {record.error}")
            self.retry.show()
        else:
            self.status.setText(summary)
