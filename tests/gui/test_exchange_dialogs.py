"""Export dialogs start in a new folder beside the images and ask before replacing label files;
Import Folder opens another tool's unzipped export and says what was detected."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog

from canvas_helpers import image_drag
from rnxstudio.data.demo import make_shapes_dataset
from window_helpers import open_with_classes

pytestmark = pytest.mark.gui


@pytest.fixture
def project(window, qtbot, tmp_path):
    make_shapes_dataset(3, (160, 120), seed=5, out_dir=tmp_path / "imgs")
    (tmp_path / "imgs" / "annotations.json").unlink()
    return open_with_classes(qtbot, window, tmp_path / "imgs")


def test_export_starts_beside_the_images_and_asks_before_replacing(window, qtbot, project, tmp_path, monkeypatch):
    exchange = window.features.exchange
    window.actions_by_id["draw_box"].trigger()
    image_drag(window.canvas, (10, 10), (50, 30))
    offered = []

    def save(_parent, _title, start, _filter):
        offered.append(start)
        return start, ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save))
    result = exchange.export("coco", verified_only=False)
    assert offered == [str(tmp_path / "imgs-coco" / "annotations.json")]
    assert result is not None and (tmp_path / "imgs-coco" / "annotations.json").is_file()
    # the same target again: asked; "no" leaves the file alone
    target = tmp_path / "imgs-coco" / "annotations.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(target), "")))
    asked = []
    monkeypatch.setattr(exchange, "confirm_overwrite", lambda fmt, out: asked.append(out) or False)
    before = target.read_text()
    assert exchange.export("coco", verified_only=False) is None
    assert asked == [str(target)] and target.read_text() == before


def test_import_folder_opens_an_export_and_says_what_it_found(window, qtbot, tmp_path):
    from unit.layout_fixtures import label_studio_coco

    export = label_studio_coco(tmp_path)  # an unzipped Label Studio COCO export
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    assert window.features.exchange.import_folder(str(export))
    store = window.controller.store
    assert sum(len(store.boxes(i)) for i in store.image_ids()) > 0
    note = store.meta("layout_import")
    assert note and any(note in m for m in messages)
