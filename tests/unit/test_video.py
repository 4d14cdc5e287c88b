"""VideoReader: random access equals sequential decoding, counts trust decoding, clear errors."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from rnxstudio.data import video as video_mod
from rnxstudio.data.demo import make_shapes_video
from rnxstudio.data.video import VideoError, VideoReader

N_FRAMES = 60


@pytest.fixture(scope="module")
def shapes_avi(tmp_path_factory):
    path = tmp_path_factory.mktemp("vid") / "shapes.avi"
    make_shapes_video(path, n_frames=N_FRAMES, size=(160, 120))
    return path


def _sequential(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def mp4v_video(tmp_path_factory):
    """An MPEG-4 Part 2 file (key frames every few frames): the kind where seeking can be inexact."""
    path = tmp_path_factory.mktemp("vid") / "moving.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (96, 64))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write mp4v")
    rng = np.random.default_rng(5)
    base = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
    for i in range(75):
        frame = np.roll(base, i * 3, axis=1).copy()
        cv2.putText(frame, str(i), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()
    return path


def test_properties(shapes_avi):
    with VideoReader(shapes_avi) as v:
        assert v.size == (160, 120)
        assert v.fps == pytest.approx(15.0)
        assert v.frame_count == N_FRAMES == len(v)
        assert v.timestamp(30) == pytest.approx(2.0)


@pytest.mark.parametrize("force_decode", [False, True])
def test_random_seek_equals_sequential(shapes_avi, force_decode, monkeypatch):
    monkeypatch.setattr(video_mod, "FORWARD_WINDOW", 2)  # exercise seeking, not just decoding on
    truth = _sequential(shapes_avi)
    assert len(truth) == N_FRAMES
    order = list(range(N_FRAMES)) * 2
    random.Random(11).shuffle(order)
    with VideoReader(shapes_avi) as v:
        if force_decode:
            v._seek_exact = False  # the inexact-container path: rewind and decode forward
        for n in order[:50]:
            frame = v.read(n)
            assert frame.dtype == np.uint8 and frame.shape == (120, 160, 3)
            np.testing.assert_array_equal(frame, truth[n], err_msg=f"frame {n}")


def test_mp4v_seek_equals_sequential(mp4v_video):
    truth = _sequential(mp4v_video)
    with VideoReader(mp4v_video) as v:
        assert v.frame_count == len(truth)
        for n in random.Random(3).sample(range(len(truth)), 20) + [len(truth) - 1, 0, 37]:
            np.testing.assert_array_equal(v.read(n), truth[n], err_msg=f"frame {n}")


def test_frames_iterator_and_end(shapes_avi):
    truth = _sequential(shapes_avi)
    with VideoReader(shapes_avi) as v:
        got = list(v.frames(start=50))
        assert [i for i, _ in got] == list(range(50, N_FRAMES))
        for i, frame in got:
            np.testing.assert_array_equal(frame, truth[i])
        with pytest.raises(IndexError):
            v.read(N_FRAMES)
        with pytest.raises(IndexError):
            v.read(-1)


def test_returned_frames_are_independent(shapes_avi):
    with VideoReader(shapes_avi) as v:
        a = v.read(5)
        a[:] = 0
        assert v.read(5).any()


def test_wrong_header_count_is_corrected_by_decoding(shapes_avi, monkeypatch):
    with VideoReader(shapes_avi) as v:
        v._header_count = N_FRAMES + 25  # a header that lies
        v._count = None
        assert v.frame_count == N_FRAMES
    with VideoReader(shapes_avi) as v:
        v._header_count = N_FRAMES - 7
        v._count = None
        assert v.frame_count == N_FRAMES


def test_unreadable_videos(tmp_path):
    with pytest.raises(VideoError, match="file not found"):
        VideoReader(tmp_path / "absent.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoError) as ei:
        VideoReader(junk)
    assert ei.value.path == str(junk)
    with pytest.raises(VideoError, match="folder"):
        VideoReader(tmp_path)


def test_truncated_video_counts_decodable_frames(shapes_avi, tmp_path):
    cut = tmp_path / "cut.avi"
    data = shapes_avi.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    decodable = len(_sequential(cut))
    try:
        v = VideoReader(cut)
    except VideoError:
        assert decodable == 0
        return
    with v:
        assert v.frame_count == decodable
        if decodable:
            np.testing.assert_array_equal(v.read(decodable - 1), _sequential(cut)[-1])


def test_probe_detects_inexact_seeking(shapes_avi, monkeypatch):
    """If seeking returned the wrong frame, the probe notices and reads stay exact."""
    truth = _sequential(shapes_avi)
    real_capture = cv2.VideoCapture

    class OffByOne:
        def __init__(self, path):
            self._c = real_capture(path)
            self._pending = None

        def set(self, prop, value):
            if prop == cv2.CAP_PROP_POS_FRAMES:
                return self._c.set(prop, max(0.0, value - 1))  # lands one frame early
            return self._c.set(prop, value)

        def get(self, prop):
            v = self._c.get(prop)
            return v + 1 if prop == cv2.CAP_PROP_POS_FRAMES and v > 0 else v

        def __getattr__(self, name):
            return getattr(self._c, name)

    monkeypatch.setattr(video_mod.cv2, "VideoCapture", OffByOne)
    monkeypatch.setattr(video_mod, "FORWARD_WINDOW", 4)  # make read(40) a random access
    with VideoReader(shapes_avi) as v:
        np.testing.assert_array_equal(v.read(40), truth[40])
        assert v._seek_exact is False
        np.testing.assert_array_equal(v.read(7), truth[7])
