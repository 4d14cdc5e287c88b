"""Space: a tap verifies, a hold pans. One rule for the canvas and the lists beside it.

LabelImg users expect Space = "verify and next"; CVAT and Photoshop users expect Space held +
drag = pan. Both fit when the two are told apart by the gesture, never by where focus happens
to be (docs/adr/0021-space-tap-and-hold.md):

- a *tap* (press and release with no auto-repeat in between, under :data:`TAP_MS`, no drag)
  verifies, from the canvas or from the image, class and object lists;
- a *hold* (the key auto-repeats, or stays down longer than :data:`TAP_MS`) does nothing by
  itself; on the canvas, a hold with a drag pans;
- Space is never a QAction shortcut: a shortcut fires on the press, and again on every
  auto-repeat, which verified and skipped image after image while someone held Space to pan.

Text fields keep Space for typing (they are never watched). A focused button keeps Qt's
"Space clicks it".
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QWidget

TAP_MS = 500
"""A press held longer than this (by the events' own timestamps) is a hold, not a tap."""


class SpaceGesture:
    """Tells a Space tap from a hold, from the key events alone (no timers)."""

    def __init__(self) -> None:
        self.down = False
        self._held = False
        self._t0 = 0

    def press(self, event: QKeyEvent) -> bool:
        """Feed a Space press; True for the first press of a gesture."""
        if event.isAutoRepeat() or self.down:
            self._held = True  # the key repeats: it is being held
            return False
        self.down, self._held, self._t0 = True, False, int(event.timestamp())
        return True

    def used(self) -> None:
        """The held Space served another gesture (a pan): its release is not a tap."""
        self._held = True

    def release(self, event: QKeyEvent) -> bool:
        """Feed the (non-repeat) Space release; True when the gesture was a tap."""
        if not self.down:
            return False
        t1 = int(event.timestamp())
        long_press = bool(self._t0 and t1) and t1 - self._t0 > TAP_MS
        tap = not self._held and not long_press
        self.reset()
        return tap

    def reset(self) -> None:
        self.down, self._held, self._t0 = False, False, 0


def _is_space(event: QEvent) -> bool:
    return (isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Space
            and event.modifiers() == Qt.KeyboardModifier.NoModifier)


class SpaceTap(QObject):
    """Watches widgets that would otherwise use Space themselves (item views toggle selection)
    and emits :attr:`tapped` for a tap there; holds and repeats do nothing."""

    tapped = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._gesture = SpaceGesture()

    def watch(self, *widgets: QWidget) -> None:
        for w in widgets:
            w.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        et = event.type()
        if et not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress, QEvent.Type.KeyRelease) or not _is_space(event):
            if et == QEvent.Type.FocusOut:
                self._gesture.reset()
            return False
        if et == QEvent.Type.ShortcutOverride:
            event.accept()  # ours: no window shortcut may take Space from here
            return True
        if et == QEvent.Type.KeyPress:
            self._gesture.press(event)
            return True
        if not event.isAutoRepeat() and self._gesture.release(event):
            self.tapped.emit()
        return True
