"""Hypothesis strategies and comparison helpers for LabelSet round-trip tests (shared by the
COCO, VOC and YOLO tests)."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from rnxstudio.core.model import Box, Category, ImageRecord, LabelSet

_NAME_CHARS = st.characters(
    whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="_-", max_codepoint=0x2FF
)


@st.composite
def label_sets(draw, *, max_images: int = 5, max_boxes: int = 6, min_box: float = 1.0) -> LabelSet:
    """Random valid LabelSets: unique category ids/names, unique image ids/paths, boxes with
    float corners inside their image and at least ``min_box`` px on each side."""
    n_cats = draw(st.integers(1, 5))
    cat_ids = draw(st.lists(st.integers(1, 500), min_size=n_cats, max_size=n_cats, unique=True))
    names = draw(
        st.lists(st.text(_NAME_CHARS, min_size=1, max_size=10), min_size=n_cats, max_size=n_cats,
                 unique_by=lambda s: s.casefold())
    )
    categories = [Category(id=i, name=n) for i, n in zip(cat_ids, names)]
    n_img = draw(st.integers(0, max_images))
    img_ids = draw(st.lists(st.integers(1, 10_000), min_size=n_img, max_size=n_img, unique=True))
    images, boxes = [], {}
    for k, iid in enumerate(img_ids):
        w = draw(st.integers(8, 4000))
        h = draw(st.integers(8, 4000))
        images.append(ImageRecord(path=f"sub/img_{k}_{iid}.png", id=iid, width=w, height=h))
        blist = []
        for _ in range(draw(st.integers(0, max_boxes))):
            x1 = draw(st.floats(0, w - min_box, allow_nan=False))
            y1 = draw(st.floats(0, h - min_box, allow_nan=False))
            x2 = draw(st.floats(min(x1 + min_box, w), w, allow_nan=False))
            y2 = draw(st.floats(min(y1 + min_box, h), h, allow_nan=False))
            if x2 - x1 < min_box or y2 - y1 < min_box:
                continue
            blist.append(Box(x1, y1, x2, y2, category_id=draw(st.sampled_from(cat_ids)), image_id=iid))
        if blist:
            boxes[iid] = blist
    return LabelSet(categories=categories, images=images, boxes=boxes)


def assert_same_boxes(a: LabelSet, b: LabelSet, *, key=lambda im: im.path, abs_tol=1e-6, rel_tol=0.0,
                      cat_key=lambda ls, cid: ls.category_by_id()[cid].name) -> None:
    """Every image of ``a`` is in ``b`` (matched by ``key``) with the same boxes in order."""
    bi = {key(im): im for im in b.images}
    assert len(bi) == len(b.images) == len(a.images)
    for im in a.images:
        other = bi[key(im)]
        assert (other.width, other.height) == (im.width, im.height)
        xs, ys = a.boxes_for(im), b.boxes_for(other)
        assert len(xs) == len(ys), im.path
        for p, q in zip(xs, ys):
            assert cat_key(a, p.category_id) == cat_key(b, q.category_id)
            for u, v in zip(p.xyxy, q.xyxy):
                assert math.isclose(u, v, abs_tol=abs_tol, rel_tol=rel_tol), (p, q)
