"""EXIF orientation: one upright frame everywhere. The same box drawn on each of the nine
Landscape_N / Portrait_N photos (EXIF orientation 0..8) covers the same content on screen, in the
store, in the COCO export, in the inference input tensor and in the training tensor."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from waits import EVENT_MS

pytestmark = [pytest.mark.reliability, pytest.mark.gui]

SIZES = {"Landscape": (1800, 1200), "Portrait": (1200, 1800)}
BOXES = {"Landscape": (420.0, 250.0, 1100.0, 950.0), "Portrait": (250.0, 420.0, 950.0, 1500.0)}
TOL = 14.0  # mean absolute difference (0..255) allowed between JPEG re-encodings of one photo


def _crop(rgb: np.ndarray, box) -> np.ndarray:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    return rgb[y1:y2, x1:x2].astype(np.float32)


def _same(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).mean())


@pytest.fixture(scope="module")
def references(request):
    from rnxstudio.data.images import load

    corpus = request.config.rootpath.parent / "shared" / "corpus" / "images" / "exif"
    if not corpus.is_dir():
        pytest.skip(f"shared image corpus not found at {corpus}")
    return corpus, {kind: _crop(load(corpus / f"{kind}_0.jpg"), BOXES[kind]) for kind in SIZES}


def test_reference_check_can_fail(references):
    """Sanity: the stored (un-rotated) pixels of a transposed file do NOT match, so the checks below
    would catch a loader that ignored the tag."""
    from PIL import Image

    corpus, refs = references
    with Image.open(corpus / "Landscape_6.jpg") as im:
        raw = np.asarray(im.convert("RGB"))
    assert raw.shape[:2] == (1800, 1200)  # stored transposed
    crop = _crop(raw, (250.0, 420.0, 950.0, 1100.0))
    assert float(np.abs(crop[: refs["Landscape"].shape[0], : refs["Landscape"].shape[1]]
                        - refs["Landscape"][: crop.shape[0], : crop.shape[1]]).mean()) > 3 * TOL


def test_one_upright_frame_from_screen_to_training_tensor(window, qtbot, references, tmp_path):
    corpus, refs = references
    folder = tmp_path / "exif"
    folder.mkdir()
    for kind in SIZES:
        for n in range(9):
            shutil.copy(corpus / f"{kind}_{n}.jpg", folder)
    assert window.open_path(folder)
    store = window.controller.store
    window.controller.session.category_ids_for(["F"])
    shown: dict[str, np.ndarray] = {}
    for image_id in window.controller.files.ids():
        with qtbot.waitSignal(window.controller.image_ready, timeout=EVENT_MS,
                              check_params_cb=lambda rec, _r, _e, i=image_id: rec.id == i) as got:
            window.controller.set_current(image_id)
        rec, rgb, error = got.args
        kind = rec.path.split("_")[0]
        assert error is None
        # on screen: the canvas holds the upright image, and the box drawn there is in that frame
        assert window.canvas.image_size() == SIZES[kind], rec.path
        assert _same(_crop(rgb, BOXES[kind]), refs[kind]) < TOL, rec.path
        window.features.editing.add_box(BOXES[kind])
        (box,) = [b for b in window.canvas.boxes() if b.image_id == image_id] or window.canvas.boxes()
        assert box.xyxy == pytest.approx(BOXES[kind])
        shown[rec.path] = rgb
    # in the store: upright sizes and the same box on every image
    for rec in store.images():
        kind = rec.path.split("_")[0]
        assert (rec.width, rec.height) == SIZES[kind], rec.path
        (b,) = store.boxes(rec.id)
        assert b.xyxy == pytest.approx(BOXES[kind])
    # in the COCO export
    out = tmp_path / "coco.json"
    assert window.features.exchange.export("coco", str(out), verified_only=False) is not None
    data = json.loads(out.read_text())
    anns = {a["image_id"]: a for a in data["annotations"]}
    for im in data["images"]:
        kind = im["file_name"].split("_")[0]
        assert (im["width"], im["height"]) == SIZES[kind]
        x, y, w, h = anns[im["id"]]["bbox"]
        assert (x, y, x + w, y + h) == pytest.approx(BOXES[kind])
    # in the training tensors (images through data.images.load, boxes from the export)
    from rnxstudio.ml.train_data import DetectionDataset, load_coco

    ds = DetectionDataset(load_coco(out, folder).samples, augment=None)
    assert len(ds) == 18
    for i in range(len(ds)):
        img, target = ds[i]
        name = ds.samples[i].path.replace("\\", "/").rsplit("/", 1)[-1]
        kind = name.split("_")[0]
        assert tuple(img.shape[1:]) == SIZES[kind][::-1], name
        (tbox,) = target["boxes"].tolist()
        rgb = (img.permute(1, 2, 0).numpy() * 255.0)
        assert _same(_crop(rgb, tbox), refs[kind]) < TOL, name
    # in the inference input tensors: what the detector's forward receives
    import torch

    from rnxstudio.ml.predict import Predictor
    from rnxstudio.ml.zoo import build_model

    built = build_model("resnext_tiny_fpn", num_classes=1, class_names=["F"], pretrained_backbone=False)
    predictor = Predictor(built, device="cpu", optimize="none")  # eager: the hook sees the real input
    seen: list[torch.Tensor] = []

    class Captured(Exception):
        pass

    def grab(_module, args):
        seen.extend(t.detach().clone() for t in args[0])
        raise Captured  # the input is all we need; skip the forward pass

    handle = predictor._runner.register_forward_pre_hook(grab)
    try:
        for name in ("Landscape_0.jpg", "Landscape_6.jpg", "Portrait_3.jpg", "Portrait_8.jpg"):
            with pytest.raises(Captured):
                predictor.predict_paths([folder / name])
            kind = name.split("_")[0]
            t = seen[-1]
            assert tuple(t.shape[1:]) == SIZES[kind][::-1], name
            rgb = t.permute(1, 2, 0).float().numpy() * 255.0
            assert _same(_crop(rgb, BOXES[kind]), refs[kind]) < TOL, name
    finally:
        handle.remove()
