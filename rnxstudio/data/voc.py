"""Pascal VOC XML: one file per image (``<annotation>`` with ``<size>`` and ``<object>``s).

Pixel convention (the one thing VOC files disagree on): by default ``xmin/ymin/xmax/ymax`` are
**0-based pixel-edge coordinates**, exactly the :class:`~rnxstudio.core.model.Box` corners
(``xmin = x1``, ``xmax = x2``), the way CVAT and LabelImg write them. The original PASCAL VOC
dataset uses 1-based inclusive pixel indices; ``one_based=True`` reads and writes those
(``x1 = xmin - 1``, ``x2 = xmax``).

Numbers: written as integers by default (``coords="int"``, rounded half up; most VOC readers call
``int()`` on the text), or as the shortest exact decimal with ``coords="float"`` (a write/read
round trip is then exact). A coordinate whose value did not change is written with the text it
was read with.

Kept and written back (``extra["voc"]``; docs/adr/0009-preserved-label-fields.md): per object
``pose``, ``truncated``, ``occluded`` and any other child element (CVAT ``<attributes>``,
``<part>``, ``<actions>``) verbatim, ``difficult`` as :attr:`Box.difficult`; per image
``<source>``, ``<owner>``, ``<segmented>``, ``<depth>`` and other children. ``<folder>`` and
``<path>`` are not trusted on reading (often stale paths of another machine) and are rewritten.
A file without ``<filename>`` names the image after its own stem.

VOC stores class *names*. ``write_voc`` also writes ``classes.txt`` (one name per line, as
LabelImg and YOLO tools do) to keep the project's class order and classes without boxes;
``read_voc`` starts from it (or labelme2voc's ``class_names.txt``) when present, else from the
order of first appearance. Splits are ``ImageSets/Main/<split>.txt`` lists of image ids.
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

__all__ = ["write_voc", "read_voc", "xml_name_for", "CLASSES_FILE", "COORDS"]

CLASSES_FILE = "classes.txt"
CLASS_LISTS = (CLASSES_FILE, "class_names.txt")  # LabelImg / our own, labelme2voc
PLACEHOLDER_CLASSES = ("_background_", "__ignore__")  # labelme's label-file conventions, not objects
COORDS = ("int", "float")
_OBJECT_OWN = {"name", "bndbox", "difficult", "pose", "truncated", "occluded"}
_ROOT_OWN = {"folder", "filename", "path", "size", "object", "segmented"}


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


def _voc_extra(record) -> dict:
    voc = (getattr(record, "extra", None) or {}).get("voc")
    return voc if isinstance(voc, dict) else {}


def _append_raw(parent: ET.Element, raw: list) -> None:
    for text in raw:
        try:
            parent.append(ET.fromstring(text))
        except (ET.ParseError, TypeError):
            continue  # a kept element that no longer parses is left out rather than failing the export


def _coord_texts(b: Box, coords: str, one_based: bool) -> list[str]:
    vals = list(b.xyxy)
    if coords == "int":
        vals = [math.floor(v + 0.5) for v in vals]
    if one_based:
        vals[0] += 1
        vals[1] += 1
    texts = [_num(v) for v in vals]
    original = _voc_extra(b).get("bndbox")
    if isinstance(original, list) and len(original) == 4:
        for k, text in enumerate(original):
            if not isinstance(text, str) or (coords == "int" and not text.strip().lstrip("-").isdigit()):
                continue  # whole pixels asked for: "191.0" becomes "191" (int() cannot read "191.0")
            try:
                if float(text) == float(vals[k]):
                    texts[k] = text  # unchanged value: the text it was read with ("007" stays)
            except ValueError:
                pass
    return texts


def _annotation_xml(ls: LabelSet, im: ImageRecord, rel: str, names: dict[int, str], coords: str,
                    one_based: bool) -> tuple[bytes, int]:
    root = ET.Element("annotation")
    parent = PurePosixPath(rel).parent
    kept = _voc_extra(im)
    _sub(root, "folder", "" if str(parent) == "." else parent.name)
    _sub(root, "filename", PurePosixPath(rel).name)
    _sub(root, "path", rel)
    if not any(str(x).startswith("<source") for x in kept.get("xml", [])):
        src = _sub(root, "source")
        _sub(src, "database", "rnxstudio")
    _append_raw(root, kept.get("xml", []))
    size = _sub(root, "size")
    _sub(size, "width", str(int(im.width)))
    _sub(size, "height", str(int(im.height)))
    _sub(size, "depth", str(kept.get("depth", "3")))
    _sub(root, "segmented", kept.get("segmented", "0"))
    crowd = 0
    for b in ls.boxes.get(im.id, []):
        if b.category_id not in names:
            raise ValueError(f"box {b.id} on {im.path} has unknown category id {b.category_id}")
        if b.crowd:  # VOC has no crowd regions; written as an object, a reader would train on it
            crowd += 1
            continue
        bk = _voc_extra(b)
        obj = _sub(root, "object")
        _sub(obj, "name", names[b.category_id])
        _sub(obj, "pose", bk.get("pose", "Unspecified"))
        _sub(obj, "truncated", bk.get("truncated", "0"))
        if "occluded" in bk:
            _sub(obj, "occluded", bk["occluded"])
        _sub(obj, "difficult", "1" if b.difficult else "0")
        bb = _sub(obj, "bndbox")
        for tag, text in zip(("xmin", "ymin", "xmax", "ymax"), _coord_texts(b, coords, one_based)):
            _sub(bb, tag, text)
        _append_raw(obj, bk.get("xml", []))
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n", crowd


def write_voc(ls: LabelSet, out_dir: str | os.PathLike, *, coords: str = "int", one_based: bool = False,
              notes: dict[str, int] | None = None) -> list[Path]:
    """Write one VOC XML per image (also images without boxes) under ``out_dir``.

    The XML for image ``sub/a.png`` is ``out_dir/sub/a.xml``; each file is written atomically.
    ``out_dir/classes.txt`` records the class order; images with a split are listed in
    ``out_dir/ImageSets/Main/<split>.txt``. Crowd regions are not written (VOC cannot tell them
    from objects); ``notes["crowd_skipped"]`` counts them. Returns the XML paths. Raises
    ``ValueError`` if two images would share one XML file.
    """
    if coords not in COORDS:
        raise ValueError(f"coords must be one of {COORDS}, not {coords!r}")
    notes = {} if notes is None else notes
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
    splits: dict[str, list[str]] = {}
    for xml_rel, (im, rel) in plan.items():
        target = out / xml_rel
        data, crowd = _annotation_xml(ls, im, rel, names, coords, one_based)
        if crowd:
            notes["crowd_skipped"] = notes.get("crowd_skipped", 0) + crowd
        atomic_write_bytes(target, data)
        written.append(target)
        if im.split:
            splits.setdefault(im.split, []).append(xml_rel[: -len(".xml")])
    atomic_write_text(out / CLASSES_FILE, "".join(f"{c.name}\n" for c in ls.categories))
    for split, ids in splits.items():
        atomic_write_text(out / "ImageSets" / "Main" / f"{split}.txt", "".join(f"{i}\n" for i in ids))
    return written


# ----------------------------------------------------------------------------- reading


def _text(el: ET.Element | None, tag: str) -> str | None:
    if el is None:
        return None
    child = el.find(tag)
    return child.text.strip() if child is not None and child.text is not None else None


def _raw_text(el: ET.Element, tag: str) -> tuple[bool, str | None]:
    """(present, text as written) of a child, so an empty ``<truncated/>`` stays empty."""
    child = el.find(tag)
    return (child is not None, None if child is None or child.text is None else child.text.strip())


def _parse_float(s: str | None) -> float | None:
    try:
        v = float(s) if s is not None else None
    except ValueError:
        return None
    return v if v is not None and math.isfinite(v) else None


def _flag(s: str | None) -> bool:
    return (s or "").strip().lower() in ("1", "true", "yes")


def _raw_children(el: ET.Element, own: set[str]) -> list[str]:
    out = []
    for child in el:
        if child.tag in own:
            continue
        child.tail = None
        out.append(ET.tostring(child, encoding="unicode"))
    return out


def _class_order(src: Path, class_names: list[str] | None) -> list[str]:
    if class_names is not None:
        return list(class_names)
    folder = src if src.is_dir() else src.parent
    for d in (folder, folder.parent):
        for name in CLASS_LISTS:
            listed = d / name
            if listed.is_file():
                try:
                    return [ln.strip() for ln in listed.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
                except (OSError, UnicodeDecodeError) as exc:
                    raise LabelFormatError(listed, [f"cannot read ({exc})"]) from None
    return []


def _image_for_stem(resolver: ImageResolver | None, folder: str, stem: str) -> str:
    """The image a VOC file without ``<filename>`` describes: same stem, any image extension."""
    if resolver is not None and resolver.root is not None:
        from rnxstudio.data.images import IMAGE_EXTENSIONS

        base = resolver.root / folder if folder not in ("", ".") else resolver.root
        for ext in sorted(IMAGE_EXTENSIONS):
            for cand in (f"{stem}{ext}", f"{stem}{ext.upper()}"):
                if (base / cand).is_file():
                    return cand
    return f"{stem}.jpg"


def _read_objects(root: ET.Element, where: str, w: float, h: float, one_based: bool, order: list[str],
                  fixed: bool, problems: list[str]) -> list[tuple[str, Box]]:
    objects = []
    for k, obj in enumerate(root.iter("object")):
        name = _text(obj, "name")
        bb = obj.find("bndbox")
        texts = [_text(bb, t) for t in ("xmin", "ymin", "xmax", "ymax")]
        vals = [_parse_float(t) for t in texts]
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
            if fixed:
                problems.append(f"{where}: object {k} has unknown class {name!r}")
                continue
            order.append(name)
        kept: dict = {"bndbox": texts}
        for tag in ("pose", "truncated", "occluded"):
            present, text = _raw_text(obj, tag)
            if present:
                kept[tag] = text
        raw = _raw_children(obj, _OBJECT_OWN)
        if raw:
            kept["xml"] = raw
        objects.append((name, Box(x1, y1, x2, y2, category_id=0, difficult=_flag(_text(obj, "difficult")),
                                  extra={"voc": kept})))
    return objects


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
    ``classes.txt`` / ``class_names.txt`` (next to the XMLs or one folder up) if present, then
    names in order of first use; labelme's ``_background_`` / ``__ignore__`` entries are left
    out when no object uses them. All problems in all files are reported together in one
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
    order = _class_order(src, class_names)
    if len(set(order)) != len(order):
        raise LabelFormatError(src, ["the class list has duplicates"])
    resolver = ImageResolver(image_root) if image_root is not None else None
    parsed: list[tuple[ImageRecord, list[tuple[str, Box]]]] = []
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
        folder = str(PurePosixPath(rel.replace("\\", "/")).parent)
        filename = _text(root, "filename") or _image_for_stem(resolver, folder, PurePosixPath(rel).stem)
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
        objects = _read_objects(root, where, w, h, one_based, order, class_names is not None, problems)
        kept: dict = {}
        raw = _raw_children(root, _ROOT_OWN)
        if raw:
            kept["xml"] = raw
        for key, text in (("segmented", _text(root, "segmented")), ("depth", _text(size, "depth"))):
            if text is not None:
                kept[key] = text
        parsed.append((ImageRecord(path=image_path, width=int(w), height=int(h),
                                   extra={"voc": kept} if kept else {}), objects))
        if len(problems) >= 200:
            break
    if problems:
        raise LabelFormatError(src, problems)
    used = {name for _, objects in parsed for name, _ in objects}
    if class_names is None:
        order = [n for n in order if n in used or n not in PLACEHOLDER_CLASSES]
    categories = [Category(id=i + 1, name=n, color=default_color(i)) for i, n in enumerate(order)]
    cat_id = {c.name: c.id for c in categories}
    images, boxes = [], {}
    for n, (rec, objects) in enumerate(parsed, start=1):
        images.append(ImageRecord(path=rec.path, id=n, width=rec.width, height=rec.height, extra=rec.extra))
        if objects:
            boxes[n] = [Box(b.x1, b.y1, b.x2, b.y2, category_id=cat_id[name], image_id=n, difficult=b.difficult,
                            extra=b.extra) for name, b in objects]
    return LabelSet(
        categories=categories,
        images=images,
        boxes=boxes,
        root=os.fspath(image_root) if image_root is not None else None,
    )
