"""Helpers for window-level GUI tests."""

from waits import EVENT_MS


def wait_for_image(qtbot, window, timeout=EVENT_MS):
    qtbot.waitUntil(lambda: window.canvas.image_size() is not None or bool(window.canvas.error_text()), timeout=timeout)


def open_with_classes(qtbot, window, folder, names=("circle", "square")):
    """Open ``folder`` in ``window``, give its project the classes ``names`` (through the session,
    which announces them; not an undo step), wait for the first image; returns the project store."""
    assert window.open_path(folder)
    window.controller.session.category_ids_for(list(names))
    wait_for_image(qtbot, window)
    return window.controller.store
