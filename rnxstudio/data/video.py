"""Frame-exact video reading on top of OpenCV.

The rule: ``reader.read(n)`` returns exactly the frame that decoding the file from the start
reaches at index ``n`` (0-based), whatever the container's seeking does. Three mechanisms:

- a cursor: reads at or just after the current position decode forward (no seek at all), so
  stepping through frames and playing are fast;
- seeking with ``CAP_PROP_POS_FRAMES``, verified by reading the position back;
- a one-time seek probe on the first random access: a few frames reached by seeking are
  compared with the same frames reached by decoding. If any differs (inexact seeking, e.g.
  some MPEG-4/H.264 files or variable frame rate), every later random access rewinds and
  decodes forward instead — slower, always exact.

``frame_count`` trusts decoding over the header: the header count is used only when frame
``count - 1`` exists and frame ``count`` does not; otherwise the frames are counted by
decoding once (lazily, cached).

A reader is not thread-safe; give each thread its own.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

FORWARD_WINDOW = 48
"""Targets up to this many frames ahead of the cursor are reached by decoding, not seeking."""
PROBE_SPAN = 240
"""How far into the video the seek probe decodes (frames)."""


class VideoError(Exception):
    """A video that cannot be opened or decoded. ``path`` names the file, ``reason`` says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _digest(frame: np.ndarray) -> bytes:
    return hashlib.blake2b(frame.tobytes(), digest_size=16).digest()


class VideoReader:
    """Random and sequential access to the frames of one video file as RGB uint8 arrays.

    Use as a context manager (``with VideoReader(path) as v: ...``) or call :meth:`close`.
    Raises :class:`VideoError` if the file is missing, not a video, or has no decodable frame.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise VideoError(self.path, "file not found")
        if self.path.is_dir():
            raise VideoError(self.path, "is a folder, not a video file")
        self._cap = self._open()
        header_fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps: float = float(header_fps) if math.isfinite(header_fps) and 0 < header_fps < 1000 else 0.0
        header_count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self._header_count: int | None = (
            int(header_count) if math.isfinite(header_count) and 0 < header_count < 2**31 else None
        )
        self._count: int | None = None
        self._cursor = 0  # index of the frame the next cap.read() returns
        self._last: tuple[int, np.ndarray] | None = None
        self._seek_exact: bool | None = None  # None = not probed yet
        first = self._read_next()
        if first is None:
            self.close()
            raise VideoError(self.path, "no decodable frames (unsupported codec or damaged file)")
        self.size: tuple[int, int] = (first.shape[1], first.shape[0])

    # ------------------------------------------------------------------ plumbing

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise VideoError(self.path, "cannot open as a video (unknown container or codec)")
        return cap

    def _read_next(self) -> np.ndarray | None:
        """Decode the frame at the cursor, convert to RGB, advance; None at the end."""
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            return None
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self._last = (self._cursor, rgb)
        self._cursor += 1
        return rgb

    def _skip(self, n: int) -> bool:
        """Advance the cursor ``n`` frames without colour conversion; False at the end."""
        for _ in range(n):
            if not self._cap.grab():
                return False
            self._cursor += 1
        return True

    def _rewind(self) -> None:
        self._cap.release()
        self._cap = self._open()
        self._cursor = 0

    def _seek(self, index: int) -> bool:
        """Put the cursor at ``index`` by a verified container seek; False if not possible."""
        if not self._cap.set(cv2.CAP_PROP_POS_FRAMES, float(index)):
            return False
        if int(round(self._cap.get(cv2.CAP_PROP_POS_FRAMES))) != index:
            return False
        self._cursor = index
        return True

    def _probe_seeking(self) -> bool:
        """Compare seek-reached frames with decode-reached frames at a few indices."""
        limit = min(PROBE_SPAN, (self._count or self._header_count or PROBE_SPAN) - 1)
        targets = sorted({t for t in (limit // 3, (2 * limit) // 3, limit) if t > 0})
        if not targets:
            return True
        truth: dict[int, bytes] = {}
        seq = cv2.VideoCapture(str(self.path))
        try:
            for i in range(targets[-1] + 1):
                ok, bgr = seq.read()
                if not ok:
                    break
                if i in targets:
                    truth[i] = _digest(bgr)
        finally:
            seq.release()
        probe = cv2.VideoCapture(str(self.path))
        try:
            for t, want in truth.items():
                probe.set(cv2.CAP_PROP_POS_FRAMES, float(t))
                if int(round(probe.get(cv2.CAP_PROP_POS_FRAMES))) != t:
                    return False
                ok, bgr = probe.read()
                if not ok or _digest(bgr) != want:
                    return False
        finally:
            probe.release()
        return True

    # ------------------------------------------------------------------ public API

    @property
    def frame_count(self) -> int:
        """Number of decodable frames (header value only when verified; else counted once)."""
        if self._count is None:
            self._count = self._verified_header_count()
            if self._count is None:
                self._count = self.count_frames()
        return self._count

    def _verified_header_count(self) -> int | None:
        n = self._header_count
        if n is None:
            return None
        cap = cv2.VideoCapture(str(self.path))
        try:
            cap.set(cv2.CAP_PROP_POS_FRAMES, float(n - 1))
            if int(round(cap.get(cv2.CAP_PROP_POS_FRAMES))) != n - 1 or not cap.grab():
                return None
            return None if cap.grab() else n
        finally:
            cap.release()

    def count_frames(self) -> int:
        """Count frames by decoding the whole file once (no colour conversion)."""
        cap = cv2.VideoCapture(str(self.path))
        n = 0
        try:
            while cap.grab():
                n += 1
        finally:
            cap.release()
        self._count = n
        return n

    def __len__(self) -> int:
        return self.frame_count

    def timestamp(self, index: int) -> float | None:
        """Presentation time of frame ``index`` in seconds (None when the fps is unknown)."""
        return index / self.fps if self.fps > 0 else None

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as an H x W x 3 RGB uint8 array (a fresh, writable array).

        Raises ``IndexError`` for an index outside the video.
        """
        index = int(index)
        if index < 0 or (self._count is not None and index >= self._count):
            raise IndexError(f"{self.path}: frame {index} is outside the video")
        if self._last is not None and self._last[0] == index:
            return self._last[1].copy()
        ahead = index - self._cursor
        if not 0 <= ahead <= FORWARD_WINDOW:
            if self._seek_exact is None:
                self._seek_exact = self._probe_seeking()
            if not (self._seek_exact and self._seek(index)):
                if index < self._cursor:
                    self._rewind()
        if not self._skip(index - self._cursor):
            self._count = self._cursor if self._count is None else self._count
            raise IndexError(f"{self.path}: frame {index} is past the end of the video")
        frame = self._read_next()
        if frame is None:
            if self._count is None:
                self._count = index
            raise IndexError(f"{self.path}: frame {index} is past the end of the video")
        return frame.copy()

    def frames(self, start: int = 0) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, rgb)`` for every frame from ``start`` to the end, decoding forward."""
        index = start
        while True:
            try:
                frame = self.read(index)
            except IndexError:
                return
            yield index, frame
            index += 1

    def close(self) -> None:
        cap = getattr(self, "_cap", None)
        if cap is not None:
            cap.release()
            self._cap = None
        self._last = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
