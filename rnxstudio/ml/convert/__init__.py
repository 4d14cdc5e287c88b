"""COCO-trained Faster R-CNN weights from detectron2 and mmdetection, converted to torchvision.

``rnxstudio.ml.convert_weights.import_weights(path, out)`` converts one file (it sits beside the
package: it builds through the zoo, which builds converted architectures through ``arch``); ``catalog`` knows the
published files; ``arch`` builds the converted architecture; ``safe_pickle`` reads detectron2's
pickles without running code. docs/adr/0010-converted-coco-models.md says why each step is there.
"""
