"""Helpers for window-level GUI tests."""


def wait_for_image(qtbot, window, timeout=5000):
    qtbot.waitUntil(lambda: window.canvas.image_size() is not None or bool(window.canvas.error_text()), timeout=timeout)
