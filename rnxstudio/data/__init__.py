"""Files and storage: image/video readers, project store, COCO/VOC/YOLO I/O, demo data. No Qt, no torch."""
