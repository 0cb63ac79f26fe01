"""Step 2 — pre-race (countdown, rotating content) or results (finishers as they cross)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from race_control.ui.widgets import Page

MODES = [
    ("results", "Results", "Each finisher's name, bib, time, city and message the moment they cross."),
    (
        "pre-race",
        "Pre-race",
        "Countdown to the gun and rotating messages; switches to results on the first finish.",
    ),
]


def choice_button(title: str, text: str) -> QPushButton:
    """A big checkable button whose explanation wraps: a button's own text never does, and one
    line of it asked for 800 px (a laptop window has not two of those side by side)."""
    b = QPushButton()
    b.setObjectName("bigChoice")  # styled by the window's style sheet, its labels too
    b.setAccessibleName(f"{title}: {text}")
    lay = QVBoxLayout(b)
    lay.setContentsMargins(16, 16, 16, 16)
    for part, name in ((title, "bigChoiceTitle"), (text, "bigChoiceText")):
        label = QLabel(part)
        label.setObjectName(name)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setWordWrap(True)
        label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # the button takes the click
        lay.addWidget(label)
    lay.addStretch(1)
    return b


class ModePage(Page):
    title = "Mode — pre-race or results"
    hint = "What should the screens show? You can switch from pre-race to results at any time later."

    def __init__(self, window) -> None:  # type: ignore[no-untyped-def]
        super().__init__(window)
        row = QHBoxLayout()
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QPushButton] = {}
        for n, (key, title, text) in enumerate(MODES, start=1):
            b = choice_button(f"{n}   {title}", text)
            b.setCheckable(True)
            b.setMinimumHeight(150)
            b.setShortcut(str(n))
            b.setToolTip(f"Key {n}")
            b.clicked.connect(lambda _=False, k=key: self.flow.set_mode(k))
            self.group.addButton(b)
            self.buttons[key] = b
            row.addWidget(b, 1)
        self.body.addLayout(row)
        self.body.addStretch(1)

    def entered(self) -> None:
        self.buttons[self.flow.mode].setChecked(True)
        self.buttons[self.flow.mode].setFocus(Qt.FocusReason.OtherFocusReason)

    def choose(self, mode: str) -> None:
        self.buttons[mode].click()

    async def primary_action(self) -> bool:
        if self.flow.session is not None:  # already running: the screens switch now
            await self.flow.ensure_session()
        return True
