"""Source -> upright RGB: the one place that turns what the app points at into pixels.

A *source* is an image path, a ``(video path, frame index)`` pair or an RGB array (passed
through). The display cache, the inference jobs and :func:`rnxstudio.ml.predict.run_inference`
all read through a :class:`SourceReader`; :func:`describe_error` is the one-line message naming
the file (or frame) and the problem.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Union

import numpy as np

from rnxstudio.data.images import ImageLoadError, load

Source = Union[str, os.PathLike, tuple[str, int], np.ndarray]


class SourceReader:
    """Reads sources, keeping one open :class:`~rnxstudio.data.video.VideoReader` per video.

    Not thread-safe (``cv2.VideoCapture`` is not): use one reader per thread, and close it."""

    def __init__(self) -> None:
        self._videos: dict[str, Any] = {}

    def read(self, source: Source) -> np.ndarray:
        if isinstance(source, np.ndarray):
            return source
        if isinstance(source, tuple) and len(source) == 2:
            path, frame = source
            reader = self._videos.get(str(path))
            if reader is None:
                from rnxstudio.data.video import VideoReader

                reader = self._videos[str(path)] = VideoReader(path)
            return reader.read(int(frame))
        if isinstance(source, (str, os.PathLike)):
            return load(source)
        raise TypeError(f"cannot read a {type(source).__name__}: expected a path, (video, frame) or an RGB array")

    def close(self) -> None:
        for reader in self._videos.values():
            close = getattr(reader, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):  # closing must never raise at shutdown
                    close()
        self._videos.clear()

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe_error(source: Source, exc: BaseException) -> str:
    """One line naming the file (or video frame) and what went wrong with it."""
    if isinstance(exc, ImageLoadError):
        return f"cannot read {exc.path}: {exc.reason}"
    text = str(exc) or type(exc).__name__
    if isinstance(source, tuple) and len(source) == 2:
        where = f"{source[0]} frame {source[1]}"
    elif isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
    else:
        return text
    return text if where in text else f"{where}: {text}"
