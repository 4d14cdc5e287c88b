"""Interrupted exports: an exception, a full disk (injected ENOSPC and a real RLIMIT_FSIZE limit),
a read-only folder and SIGKILL mid-write. Promise: the last good file stays byte-identical, no
temp file is left, the error is shown once in the GUI, and the export can be retried."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import make_labelled_folder
from rnxstudio.core.model import Box
from rnxstudio.data import atomic
from rnxstudio.data.exchange import export_labels

pytestmark = pytest.mark.reliability


def _folder_files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def _add_box(store):
    image_id = store.image_ids()[0]
    cat = store.categories()[0].id
    return store.add_box(Box(3, 4, 30, 40, cat, image_id=image_id))


class _FailingFile:
    """Wraps a file object; raises ``exc`` once ``limit`` bytes/chars have been written."""

    def __init__(self, fh, limit: int, exc: BaseException):
        self._fh, self._left, self._exc = fh, limit, exc

    def write(self, data):
        if len(data) > self._left:
            self._fh.write(data[: self._left])
            self._left = 0
            raise self._exc
        self._left -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._fh.__exit__(*exc)


def _inject(monkeypatch, where: str) -> None:
    """Make the next atomic write fail at ``where``."""
    if where == "write-exception":
        real = atomic.os.fdopen
        monkeypatch.setattr(atomic.os, "fdopen", lambda *a, **k: _FailingFile(real(*a, **k), 20, RuntimeError("boom")))
    elif where == "write-enospc":
        real = atomic.os.fdopen
        err = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(atomic.os, "fdopen", lambda *a, **k: _FailingFile(real(*a, **k), 20, err))
    elif where == "fsync-enospc":
        def fsync(_fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(atomic.os, "fsync", fsync)
    elif where == "replace-eio":
        def replace(_a, _b):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        monkeypatch.setattr(atomic.os, "replace", replace)
    elif where == "read-only":  # as root chmod does not stop writes, so inject what the kernel says
        def mkstemp(*_a, **_k):
            raise PermissionError(errno.EROFS, os.strerror(errno.EROFS))
        monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    else:
        raise AssertionError(where)


FAULTS = ["write-exception", "write-enospc", "fsync-enospc", "replace-eio", "read-only"]


def _snapshot(folder):
    return {p: (folder / p).read_bytes() for p in _folder_files(folder) if (folder / p).is_file()}


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
@pytest.mark.parametrize("where", FAULTS)
def test_failed_export_keeps_last_good_files_and_retry_works(labelled_project, tmp_path, monkeypatch, fmt, where):
    store, _ = labelled_project
    out = tmp_path / "out"
    export_labels(store, fmt, out)
    before = _snapshot(out)
    _add_box(store)
    with monkeypatch.context() as m:
        _inject(m, where)
        with pytest.raises((RuntimeError, OSError)):
            export_labels(store, fmt, out)
    failed = _snapshot(out)
    assert sorted(failed) == sorted(before), "temp or extra files left behind"
    result = export_labels(store, fmt, out)  # retry without the fault
    after = _snapshot(out)
    assert result.boxes == store.count_boxes(include_predictions=False)
    assert after != before
    for p, data in failed.items():
        # COCO is one file: it must be the old one. VOC/YOLO write one file per image, so some may
        # already be the new version; none is ever cut short or mixed.
        assert data == before[p] or (fmt != "coco" and data == after[p]), f"{p} is neither old nor new"
    if fmt == "coco":
        assert failed["annotations.json"] == before["annotations.json"]
        assert len(json.loads(after["annotations.json"])["annotations"]) == result.boxes


def test_stale_temp_files_of_dead_writers_are_swept(tmp_path):
    target = tmp_path / "annotations.json"
    target.write_text("old")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".annotations.json.{dead}.abc123.tmp"
    stale.write_text("half")
    live = tmp_path / f".annotations.json.{os.getppid()}.zzz.tmp"  # a live writer's temp stays
    live.write_text("busy")
    other = tmp_path / f".other.json.{dead}.q.tmp"
    other.write_text("not ours")
    atomic.atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert not stale.exists() and live.exists() and other.exists()


@pytest.mark.skipif(os.name != "posix", reason="needs RLIMIT_FSIZE")
def test_file_size_limit_in_a_child_keeps_last_good_file(labelled_project, tmp_path):
    """A real write failure from the kernel (EFBIG at RLIMIT_FSIZE) through the CLI's code path."""
    store, _ = labelled_project
    out = tmp_path / "out.json"
    export_labels(store, "coco", out)
    good = out.read_bytes()
    cat = store.categories()[0].id
    for image_id in store.image_ids():
        store.add_boxes([Box(1 + k, 1, 20 + k, 30, cat, image_id=image_id) for k in range(40)])
    project = store.path
    store.close()
    code = f"""
        import resource, signal, sys
        from rnxstudio.data.exchange import export_labels
        from rnxstudio.data.store import ProjectStore
        store = ProjectStore.open(sys.argv[1])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, ({len(good) + 2000}, {len(good) + 2000}))
        try:
            export_labels(store, "coco", sys.argv[2])
        except OSError as exc:
            print("ERR", exc.errno, exc)
            sys.exit(3)
        print("OK")
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(project), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"ERR {errno.EFBIG}" in proc.stdout
    assert out.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    with __import__("rnxstudio.data.store", fromlist=["ProjectStore"]).ProjectStore.open(project) as again:
        result = export_labels(again, "coco", out)
    assert len(json.loads(out.read_text())["annotations"]) == result.boxes > len(json.loads(good)["annotations"])


@pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")
def test_sigkill_mid_export_leaves_a_complete_file(tmp_path):
    """A child re-exports a 300-image project in a loop and is killed at a random moment: the file
    is always a complete export, and the next export removes the dead writer's temp file."""
    from rnxstudio.data.coco import read_coco
    from rnxstudio.data.project import open_project

    folder = make_labelled_folder(tmp_path, n=6)
    with open_project(folder) as store:
        store.import_labelset(read_coco(tmp_path / "truth.json", image_root=folder))
        cat = store.categories()[0].id
        for image_id in store.image_ids():
            store.add_boxes([Box(1 + k % 50, 1, 20 + k % 50, 30, cat, image_id=image_id) for k in range(1500)])
        project = store.path
        out = tmp_path / "out"
        export_labels(store, "coco", out)
    good = (out / "annotations.json").read_bytes()
    code = """
        import sys
        from rnxstudio.data.exchange import export_labels
        from rnxstudio.data.store import ProjectStore
        store = ProjectStore.open(sys.argv[1])
        while True:
            print("start", flush=True)
            export_labels(store, "coco", sys.argv[2])
    """
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(project), str(out)],
                            stdout=subprocess.PIPE, text=True)
    killed_with_temp = False
    try:
        starts = 0
        for line in proc.stdout:
            starts += line.startswith("start")
            if starts >= 2:
                import time

                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not killed_with_temp:
                    if any(p.endswith(".tmp") for p in os.listdir(out)):  # the write is under way
                        os.kill(proc.pid, signal.SIGKILL)
                        killed_with_temp = True
                    time.sleep(0.002)
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
    assert killed_with_temp, "never caught the child mid-write"
    assert any(p.endswith(".tmp") for p in os.listdir(out))  # what a killed writer leaves
    assert (out / "annotations.json").read_bytes() == good
    with open_project(project) as store:
        export_labels(store, "coco", out)
    assert (out / "annotations.json").read_bytes() == good
    assert [p for p in os.listdir(out) if p.endswith(".tmp")] == []


@pytest.mark.gui
@pytest.mark.parametrize("where", ["write-enospc", "read-only"])
def test_gui_export_error_shown_once_then_retry(window, qtbot, tmp_path, monkeypatch, where):
    from window_helpers import wait_for_image

    folder = make_labelled_folder(tmp_path)
    assert window.open_path(folder)
    wait_for_image(qtbot, window)
    store = window.controller.store
    window.controller.session.category_ids_for(["thing"])
    window.features.editing.add_box((5, 5, 40, 30))
    out = tmp_path / "export" / "labels.json"
    assert window.features.exchange.export("coco", str(out), verified_only=False) is not None
    good = out.read_bytes()
    window.features.editing.add_box((10, 10, 50, 50))
    shown = []
    real_show = window.show_error
    monkeypatch.setattr(window, "show_error", lambda t, m: (shown.append((t, m)), real_show(t, m)))
    with monkeypatch.context() as m:
        _inject(m, where)
        assert window.features.exchange.export("coco", str(out), verified_only=False) is None
    assert len(shown) == 1 and "COCO" in shown[0][0]
    assert os.strerror(errno.ENOSPC if where == "write-enospc" else errno.EROFS) in shown[0][1]
    assert out.read_bytes() == good
    assert [p.name for p in out.parent.iterdir()] == ["labels.json"]
    result = window.features.exchange.export("coco", str(out), verified_only=False)
    assert result is not None and result.boxes == 2 and len(shown) == 1
