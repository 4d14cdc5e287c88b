"""Closing the window while background work runs (pre-label many, a model load, a fine-tune run,
video decoding) shuts down cleanly: no "QThread: Destroyed while thread is still running", no Qt
warning, no crash, exit code 0. Each scenario runs in a child process so a crash cannot take
pytest down, and the child's interpreter tear-down is part of what is tested."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import GUI_TESTS, make_labelled_folder

pytestmark = [pytest.mark.reliability, pytest.mark.gui]

CHILD = r"""
import faulthandler, gc, sys, time
faulthandler.enable()
sys.path.insert(0, sys.argv[3])
from PySide6.QtCore import QSettings, QTimer, QtMsgType, qInstallMessageHandler

def on_qt_message(mode, _ctx, msg):
    if mode != QtMsgType.QtDebugMsg and "propagateSizeHints" not in msg:
        print("QTMSG", msg, flush=True)

qInstallMessageHandler(on_qt_message)
from rnxstudio.ui.app import make_app
from rnxstudio.ui.main_window import MainWindow

scenario, target = sys.argv[1], sys.argv[2]
app = make_app()
w = MainWindow(settings=QSettings(sys.argv[4], QSettings.IniFormat))
w.show()
assert w.open_path(target)
deadline = time.monotonic() + 240

def wait(cond):
    while not cond():
        app.processEvents()
        time.sleep(0.005)
        if time.monotonic() > deadline:
            print("TIMEOUT", scenario, "last error:", w.last_error, flush=True)
            w.close()
            sys.exit(5)

from rnxstudio.ui.models import ModelChoice
tiny = ModelChoice(zoo_name="resnext_tiny_fpn", pretrained_backbone=False, device="cpu")
if scenario == "prelabel-all":
    w.features.prelabel.load(tiny)
    wait(lambda: w.features.prelabel.models.loaded)
    done = []
    w.features.prelabel.client.batch_item.connect(lambda *a: done.append(a))
    w.features.prelabel.prelabel_many("all")
    wait(lambda: len(done) >= 1)
elif scenario == "model-load":
    w.features.prelabel.load(tiny)
    time.sleep(0.05)  # the factory is building the model on the worker thread
elif scenario == "training":
    from rnxstudio.ui.training.options import FinetuneOptions
    opts = FinetuneOptions(base="resnext_tiny_fpn", selection="labelled", size=64, max_size=96, epochs=None,
                           max_steps=400, batch_size=2, pretrained_backbone=False, device="cpu", val_split=0.25)
    steps = []
    w.features.training.controller.progress.connect(lambda *a: steps.append(a))
    assert w.features.training.controller.start_run(opts), w.last_error
    wait(lambda: len(steps) >= 2)
elif scenario == "video":
    for _ in range(15):  # scrub: requests pile up on the decode threads
        w.controller.step(+1)
        app.processEvents()
else:
    raise SystemExit(f"unknown scenario {scenario}")
t0 = time.monotonic()
w.close()
print("closed in", round(time.monotonic() - t0, 2), flush=True)
app.processEvents()
del w
gc.collect()
app.processEvents()
print("done", scenario, flush=True)
"""


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    from rnxstudio.data.coco import read_coco
    from rnxstudio.data.demo import make_shapes_video
    from rnxstudio.data.project import open_project

    root = tmp_path_factory.mktemp("threads")
    home = root / "home"
    folder = make_labelled_folder(root, n=8, size=(96, 80))
    video = root / "clip.avi"
    make_shapes_video(video, n_frames=40, size=(160, 120), seed=4)
    # the training scenario needs labelled images: import the truth into the folder's project
    old = os.environ.get("RNXSTUDIO_HOME")
    os.environ["RNXSTUDIO_HOME"] = str(home)
    try:
        with open_project(folder) as store:
            store.import_labelset(read_coco(root / "truth.json", image_root=folder))
    finally:
        if old is None:
            os.environ.pop("RNXSTUDIO_HOME")
        else:
            os.environ["RNXSTUDIO_HOME"] = old
    return {"folder": folder, "video": video, "home": home, "root": root}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["prelabel-all", "model-load", "training", "video"])
def test_close_during_background_work_is_clean(targets, scenario):
    target = targets["video"] if scenario == "video" else targets["folder"]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RNXSTUDIO_HOME=str(targets["home"]),
               RNXSTUDIO_NO_DOWNLOAD="1")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), scenario, str(target), str(GUI_TESTS),
                           str(targets["root"] / f"{scenario}.ini")], capture_output=True, text=True,
                          timeout=300, env=env)
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 0, f"rc={proc.returncode}\n{out}\n{err[-3000:]}"
    assert f"done {scenario}" in out, out + err[-2000:]
    qt_messages = [line for line in out.splitlines() if line.startswith("QTMSG")]
    assert qt_messages == [], qt_messages
    assert "QThread" not in err and "Traceback" not in err and "Fatal Python error" not in err, err[-3000:]
