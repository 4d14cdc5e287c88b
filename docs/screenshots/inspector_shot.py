"""Render the inspector panel (heatmap overlay, stage strip, architecture table) for a demo
image and save docs/screenshots/inspector.png. Runs offscreen; no weights needed.

    python docs/screenshots/inspector_shot.py [--steps 30]

The tiny model is trained for ``--steps`` SGD steps on the demo image first so the maps have
some structure (random weights give random maps).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--out", default=str(Path(__file__).with_name("inspector.png")))
    args = ap.parse_args()

    import numpy as np
    import torch
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtGui import QPainter, QPixmap
    from PySide6.QtWidgets import QApplication

    from rnxstudio.data.demo import CLASSES, make_scene
    from rnxstudio.ml.tensors import image_to_tensor
    from rnxstudio.ml.zoo import build_model
    from rnxstudio.ui.inspector import InspectorJobs, InspectorPanel
    from rnxstudio.ui.jobs import JobEngine

    app = QApplication.instance() or QApplication(sys.argv)
    torch.manual_seed(0)
    rgb, objects = make_scene(np.random.default_rng(11), 320, 240, 4)
    built = build_model("resnext_tiny_fpn", num_classes=len(CLASSES), class_names=list(CLASSES),
                        pretrained_backbone=False, min_size=240, max_size=320)
    model = built.model
    target = {"boxes": torch.tensor([b for _, b in objects], dtype=torch.float32),
              "labels": torch.tensor([c + 1 for c, _ in objects])}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    model.train()
    x = image_to_tensor(rgb)
    for _ in range(args.steps):
        loss = sum(model([x], [target]).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()

    engine = JobEngine()
    worker = InspectorJobs(engine)
    worker.set_model(built)
    panel = InspectorPanel()
    panel.attach_worker(worker)
    panel.resize(1100, 640)
    panel.show()

    def wait_for(signal) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(120_000, loop.quit)
        loop.exec()

    panel.inspect(rgb)
    wait_for(worker.inspected)
    panel.set_stage("res3")
    panel.set_colormap("turbo")
    maps = panel.grab()
    panel.tabs.setCurrentIndex(1)
    view = panel.arch_view
    view.model_combo.setCurrentText("resnext50_32x4d_fpn")
    view.compare_combo.setCurrentText("resnet50_fpn")
    view.size_edit.setText("800x1067")
    view.request()
    wait_for(worker.arch_ready)
    app.processEvents()
    table = panel.grab()
    engine.shutdown()

    out = QPixmap(max(maps.width(), table.width()), maps.height() + table.height())
    out.fill()
    p = QPainter(out)
    p.drawPixmap(0, 0, maps)
    p.drawPixmap(0, maps.height(), table)
    p.end()
    out.save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
