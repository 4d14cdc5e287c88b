"""Issue 15, item 10 and the Model dialog's inference-path and import wiring: picking a zoo model
switches away from "Checkpoint file"; the chosen model is loaded again after a restart (a
project's preferred model wins on its first open); settings are kept per RNXSTUDIO_HOME; the
precision/backend choices, the inference path in the status bar, importing a detectron2 file
as a job, and published detectors that are not on this computer saying how to get them."""

from __future__ import annotations

from pathlib import Path

import pytest

from waits import EVENT_MS, MODEL_MS
from rnxstudio.data.demo import make_shapes_dataset
from window_helpers import wait_for_image

pytestmark = pytest.mark.gui
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def folder(tmp_path):
    make_shapes_dataset(3, (96, 64), seed=4, out_dir=tmp_path / "imgs")
    (tmp_path / "imgs" / "annotations.json").unlink()
    return tmp_path / "imgs"


def _window(qtbot, settings=None):
    from rnxstudio.ui.app import make_app
    from rnxstudio.ui.main_window import MainWindow

    make_app()
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    return w


def test_picking_a_zoo_model_switches_the_choice_away_from_checkpoint_file(qtbot):
    from rnxstudio.ui.model_dialog import ModelDialog
    from rnxstudio.ui.models import ModelChoice

    dlg = ModelDialog(None, ModelChoice(checkpoint="/somewhere/model_best.safetensors"))
    qtbot.addWidget(dlg)
    assert dlg.ckpt_radio.isChecked()
    dlg.zoo.setCurrentIndex(dlg.zoo.findData("resnet50_fpn"))
    assert dlg.zoo_radio.isChecked() and not dlg.ckpt_radio.isChecked()
    assert dlg.choice().zoo_name == "resnet50_fpn" and dlg.choice().checkpoint is None
    dlg.ckpt_path.setFocus()
    qtbot.keyClicks(dlg.ckpt_path, "x")  # typing a path is choosing a checkpoint again
    assert dlg.ckpt_radio.isChecked()


def test_the_chosen_model_is_loaded_again_after_a_restart(qtbot, tmp_path, folder, monkeypatch):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QDialog

    from rnxstudio.ui import model_dialog

    def pick_tiny(self):
        self.zoo.setCurrentIndex(self.zoo.findData("resnext_tiny_fpn"))
        self.pretrained.setChecked(False)
        return QDialog.Accepted

    monkeypatch.setattr(model_dialog.ModelDialog, "exec", pick_tiny)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    w = _window(qtbot, settings)
    assert w.open_path(folder)
    pre = w.features.prelabel
    with qtbot.waitSignal(pre.models.changed, timeout=MODEL_MS):
        w.actions_by_id["choose_model"].trigger()
    # the status bar says how the model runs here and why (Predictor.describe())
    assert pre.sb_path.text() == pre.models.path and " on CPU (" in pre.models.path
    w.close()

    w2 = _window(qtbot, QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    pre2 = w2.features.prelabel
    with qtbot.waitSignal(pre2.models.changed, timeout=MODEL_MS):
        assert w2.open_path(folder)
    assert pre2.models.choice.zoo_name == "resnext_tiny_fpn" and not pre2.models.choice.pretrained_backbone
    w2.close()


def test_a_projects_preferred_model_wins_on_its_first_open_then_the_users_choice(qtbot, tmp_path, folder):
    from PySide6.QtCore import QSettings

    from rnxstudio.data.project import open_project
    from rnxstudio.ui.model_choice import remember_choice
    from rnxstudio.ui.models import ModelChoice

    store = open_project(str(folder))
    store.set_meta("preferred_model", "resnext_tiny_fpn")  # what the demo project records
    store.close()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    remember_choice(settings, ModelChoice(zoo_name="resnet50_fpn", pretrained_backbone=False))
    for expected in ("resnext_tiny_fpn", "resnet50_fpn"):
        w = _window(qtbot, settings)
        pre = w.features.prelabel
        with qtbot.waitSignal(pre.models.changed, timeout=MODEL_MS):
            assert w.open_path(folder)
        assert pre.models.choice.zoo_name == expected
        w.close()


def test_settings_are_kept_apart_per_rnxstudio_home(qtbot, tmp_path, folder, monkeypatch):
    monkeypatch.setenv("RNXSTUDIO_HOME", str(tmp_path / "home_a"))
    w = _window(qtbot)
    assert w.open_path(folder)
    wait_for_image(qtbot, w)
    assert w.recent_paths() == [str(folder.resolve())]
    w.close()
    monkeypatch.setenv("RNXSTUDIO_HOME", str(tmp_path / "home_b"))
    w2 = _window(qtbot)
    assert w2.recent_paths() == []  # another user data folder, another set of settings
    w2.close()
    monkeypatch.setenv("RNXSTUDIO_HOME", str(tmp_path / "home_a"))
    w3 = _window(qtbot)
    assert w3.recent_paths() == [str(folder.resolve())]
    assert (tmp_path / "home_a" / "settings.ini").is_file()
    w3.close()


def test_precision_backend_catalog_and_import_in_the_model_dialog(window, qtbot):
    from rnxstudio.ml.convert import catalog
    from rnxstudio.ml.precision import backend_choices, precision_choices
    from rnxstudio.ui.model_dialog import ModelDialog

    dlg = ModelDialog(window, jobs=window.jobs)
    qtbot.addWidget(dlg)
    dlg.device.setCurrentIndex(dlg.device.findData("cpu"))
    items = lambda combo: [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count())]  # noqa: E731
    assert items(dlg.precision) == precision_choices("cpu")
    assert items(dlg.backend) == backend_choices()
    dlg.precision.setCurrentIndex(dlg.precision.findData("fp32"))
    assert dlg.choice().precision == "fp32"
    # a published detector that is not here says so, and how to get or import it
    entry = next(iter(catalog.CATALOG.values()))
    i = dlg.zoo.findData("coco:" + entry.name)
    assert i >= 0 and "not on this computer" in dlg.zoo.itemText(i)
    dlg.zoo.setCurrentIndex(i)
    text = dlg.description.text()
    assert entry.url in text and str(catalog.local_path(entry)) in text and "Import detectron2" in text
    # importing a broken file: the message names it
    bad = Path(window.ctx.settings.fileName()).parent / "broken.pkl"
    bad.write_bytes(b"not a pickle")
    dlg.start_import(str(bad))
    qtbot.waitUntil(lambda: dlg.import_button.isEnabled(), timeout=MODEL_MS)
    assert dlg.import_status.text().startswith(f"Cannot import {bad}:") and dlg.imported is None
    # a real (tiny) detectron2 file converts on the job engine and becomes the choice
    dlg.start_import(str(FIXTURES / "detectron2" / "model_final_tiny.pkl"))
    assert not dlg.ok_button.isEnabled()
    qtbot.waitUntil(lambda: dlg.imported is not None, timeout=MODEL_MS)
    assert Path(dlg.imported).is_file() and dlg.ckpt_radio.isChecked()
    assert dlg.choice().checkpoint == dlg.imported and dlg.ok_button.isEnabled()
