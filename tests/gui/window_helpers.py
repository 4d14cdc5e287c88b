"""Helpers for window-level GUI tests."""

from waits import EVENT_MS


def wait_for_image(qtbot, window, timeout=EVENT_MS):
    qtbot.waitUntil(lambda: window.canvas.image_size() is not None or bool(window.canvas.error_text()), timeout=timeout)


def open_with_classes(qtbot, window, folder, names=("circle", "square")):
    """Open ``folder`` in ``window``, give its project the classes ``names``, wait for the first
    image; returns the project store."""
    assert window.open_path(folder)
    store = window.controller.store
    for name in names:
        store.add_category(name)
    window.editing.panel.set_categories(store.categories())
    wait_for_image(qtbot, window)
    return store
