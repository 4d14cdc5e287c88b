"""Pascal VOC XML: one file per image (``<annotation>`` with ``<size>`` and ``<object>``s).

Pixel convention (the one thing VOC files disagree on): this module writes and reads
``xmin/ymin/xmax/ymax`` as **0-based pixel-edge coordinates**, exactly the
:class:`~rnxstudio.core.model.Box` corners (``xmin = x1``, ``xmax = x2``), the way CVAT and
LabelImg write them. Values are written as the shortest exact decimal (integers without
``.0``), so a write/read round trip is exact. The original PASCAL VOC dataset uses 1-based
inclusive pixel indices instead; read such files with ``one_based=True`` (``x1 = xmin - 1``,
``x2 = xmax``).

VOC stores class *names*. To keep the project's class order (and classes without boxes),
``write_voc`` also writes ``classes.txt`` (one name per line, as LabelImg and YOLO tools do);
``read_voc`` starts from it when present, else from the order of first appearance.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

from rnxstudio.core.model import Box, Category, ImageRecord, LabelSet, default_color
from rnxstudio.data.atomic import atomic_write_bytes, atomic_write_text
from rnxstudio.data.errors import LabelFormatError
from rnxstudio.data.labelpaths import ImageResolver, per_image_name
from rnxstudio.data.schema import INT64_MAX

__all__ = ["write_voc", "read_voc", "xml_name_for", "CLASSES_FILE"]

CLASSES_FILE = "classes.txt"


def _num(v: float) -> str:
    f = float(v)
    return str(int(f)) if f.is_integer() and abs(f) < 2**53 else repr(f)


def xml_name_for(image_path: str) -> str:
    """Relative XML path for an image path: same folders, ``.xml`` suffix."""
    p = PurePosixPath(*[q for q in PurePosixPath(image_path.lstrip("/")).parts if q not in ("..", ".")] or ["_"])
    return str(p.with_suffix(".xml")) if p.suffix else f"{p}.xml"  # ".." dropped: never outside the folder


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _annotation_xml(ls: LabelSet, im: ImageRecord, rel: str, names: dict[int, str]) -> bytes:
    root = ET.Element("annotation")
    parent = PurePosixPath(rel).parent
    _sub(root, "folder", "" if str(parent) == "." else parent.name)
    _sub(root, "filename", PurePosixPath(rel).name)
    _sub(root, "path", rel)
    src = _sub(root, "source")
    _sub(src, "database", "rnxstudio")
    size = _sub(root, "size")
    _sub(size, "width", str(int(im.width)))
    _sub(size, "height", str(int(im.height)))
    _sub(size, "depth", "3")
    _sub(root, "segmented", "0")
    for b in ls.boxes.get(im.id, []):
        if b.category_id not in names:
            raise ValueError(f"box {b.id} on {im.path} has unknown category id {b.category_id}")
        obj = _sub(root, "object")
        _sub(obj, "name", names[b.category_id])
        _sub(obj, "pose", "Unspecified")
        _sub(obj, "truncated", "0")
        _sub(obj, "difficult", "0")
        bb = _sub(obj, "bndbox")
        for tag, v in (("xmin", b.x1), ("ymin", b.y1), ("xmax", b.x2), ("ymax", b.y2)):
            _sub(bb, tag, _num(v))
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_voc(ls: LabelSet, out_dir: str | os.PathLike) -> list[Path]:
    """Write one VOC XML per image (also images without boxes) under ``out_dir``.

    The XML for image ``sub/a.png`` is ``out_dir/sub/a.xml``. Each file is written atomically.
    ``out_dir/classes.txt`` records the class order. Returns the XML paths. Raises ``ValueError`` if two images would share one XML file.
    """
    out = Path(out_dir)
    names = {c.id: c.name for c in ls.categories}
    plan: dict[str, tuple[ImageRecord, str]] = {}
    for im in ls.images:
        rel = per_image_name(im.path, ls.root)
        xml_rel = xml_name_for(rel)
        if xml_rel in plan:
            raise ValueError(f"images {plan[xml_rel][0].path!r} and {im.path!r} would both be written to {xml_rel}")
        plan[xml_rel] = (im, rel)
    written = []
    for xml_rel, (im, rel) in plan.items():
        target = out / xml_rel
        atomic_write_bytes(target, _annotation_xml(ls, im, rel, names))
        written.append(target)
    atomic_write_text(out / CLASSES_FILE, "".join(f"{c.name}\n" for c in ls.categories))
    return written


def _text(el: ET.Element | None, tag: str) -> str | None:
    if el is None:
        return None
    child = el.find(tag)
    return child.text.strip() if child is not None and child.text is not None else None


def _parse_float(s: str | None) -> float | None:
    try:
        v = float(s) if s is not None else None
    except ValueError:
        return None
    return v if v is not None and math.isfinite(v) else None


def read_voc(
    path: str | os.PathLike,
    image_root: str | os.PathLike | None = None,
    *,
    class_names: list[str] | None = None,
    one_based: bool = False,
) -> LabelSet:
    """Read one VOC XML file or a folder of them (recursively, natural order).

    Image paths are the XML's location relative to the folder with the XML's ``filename``
    (so ``write_voc`` output reads back to the same paths). A missing or zero ``<size>`` is
    read from the image under ``image_root``. With ``class_names`` the categories are exactly
    those (ids 1..n, in that order) and an unknown name is a problem; otherwise the order is
    ``classes.txt`` (next to the XMLs) if present, then names in order of first use. All problems in all files are reported together in one
    :class:`LabelFormatError`.
    """
    from rnxstudio.data.scan import scan_folder

    src = Path(path)
    if src.is_dir():
        files = [(src / rel, rel) for rel in scan_folder(src, recursive=True, extensions={".xml"})]
    elif src.is_file():
        files = [(src, src.name)]
    else:
        raise LabelFormatError(src, ["file or folder not found"])
    problems: list[str] = []
    order: list[str] = list(class_names or [])
    listed = src / CLASSES_FILE if src.is_dir() else src.parent / CLASSES_FILE
    if class_names is None and listed.is_file():
        try:
            order = [ln.strip() for ln in listed.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise LabelFormatError(listed, [f"cannot read ({exc})"]) from None
    if len(set(order)) != len(order):
        raise LabelFormatError(src, ["the class list has duplicates"])
    resolver = ImageResolver(image_root) if image_root is not None else None
    parsed: list[tuple[str, int, int, list[tuple[str, float, float, float, float]]]] = []
    for file, rel in files:
        where = rel
        try:
            root = ET.parse(file).getroot()
        except (ET.ParseError, LookupError, ValueError) as exc:  # LookupError: unknown encoding
            problems.append(f"{where}: invalid XML ({exc})")
            continue
        except OSError as exc:
            problems.append(f"{where}: cannot read ({exc.strerror or exc})")
            continue
        if root.tag != "annotation":
            problems.append(f"{where}: root element is <{root.tag}>, expected <annotation>")
            continue
        filename = _text(root, "filename")
        if not filename:
            problems.append(f"{where}: missing <filename>")
            continue
        folder = str(PurePosixPath(rel.replace("\\", "/")).parent)
        image_path = filename if folder in ("", ".") else f"{folder}/{filename}"
        size = root.find("size")
        w, h = _parse_float(_text(size, "width")), _parse_float(_text(size, "height"))
        if not w or not h or w < 0 or h < 0:
            found = resolver.resolve(image_path) if resolver else None
            if found is None:
                why = "no image folder given" if resolver is None else f"image not found under {image_root}"
                problems.append(f"{where}: <size> missing or zero and {why}")
                continue
            from rnxstudio.data.images import ImageLoadError, read_size

            try:
                w, h = read_size(found)
            except ImageLoadError as exc:
                problems.append(f"{where}: <size> missing and the image is unreadable ({exc.reason})")
                continue
        if w > INT64_MAX or h > INT64_MAX:
            problems.append(f"{where}: <size> {w:g}x{h:g} is too large")
            continue
        objects = []
        for k, obj in enumerate(root.iter("object")):
            name = _text(obj, "name")
            bb = obj.find("bndbox")
            vals = [_parse_float(_text(bb, t)) for t in ("xmin", "ymin", "xmax", "ymax")]
            if not name:
                problems.append(f"{where}: object {k} has no <name>")
                continue
            if bb is None or any(v is None for v in vals):
                problems.append(f"{where}: object {k} ({name}) needs numeric xmin, ymin, xmax, ymax")
                continue
            x1, y1, x2, y2 = vals
            if one_based:
                x1, y1 = x1 - 1.0, y1 - 1.0
            if not (x2 > x1 and y2 > y1):
                problems.append(f"{where}: object {k} ({name}) has an empty box {vals}")
                continue
            if x1 < -1 or y1 < -1 or x1 >= w or y1 >= h:
                problems.append(f"{where}: object {k} ({name}) box {vals} is outside the {w:g}x{h:g} image")
                continue
            if name not in order:
                if class_names is not None:
                    problems.append(f"{where}: object {k} has unknown class {name!r}")
                    continue
                order.append(name)
            objects.append((name, x1, y1, x2, y2))
        parsed.append((image_path, int(w), int(h), objects))
        if len(problems) >= 200:
            break
    if problems:
        raise LabelFormatError(src, problems)
    categories = [Category(id=i + 1, name=n, color=default_color(i)) for i, n in enumerate(order)]
    cat_id = {c.name: c.id for c in categories}
    images, boxes = [], {}
    for n, (image_path, w, h, objects) in enumerate(parsed, start=1):
        images.append(ImageRecord(path=image_path, id=n, width=w, height=h))
        if objects:
            boxes[n] = [Box(x1, y1, x2, y2, category_id=cat_id[name], image_id=n) for name, x1, y1, x2, y2 in objects]
    return LabelSet(
        categories=categories,
        images=images,
        boxes=boxes,
        root=os.fspath(image_root) if image_root is not None else None,
    )
