"""Helpers for window-level GUI tests."""


def wait_for_image(qtbot, window, timeout=30000):
    # generous: on a loaded 2-core CI box the background torch import competes for the GIL
    qtbot.waitUntil(lambda: window.canvas.image_size() is not None or bool(window.canvas.error_text()), timeout=timeout)
