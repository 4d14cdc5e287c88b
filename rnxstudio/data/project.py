"""Turn what the user opened (project file, image folder, video file) into a ProjectStore.

A ``.rnxproj`` file opens directly. An image folder or a video resolves to a project file under
``core.paths.projects_dir()`` named after the source and keyed by a hash of its absolute path, so
nothing is ever written into the user's folder and re-opening the same folder finds the same
project. The first open builds the project in a temp file and links it into place, so a killed
first open never leaves a half-made project behind. Every later open of a folder re-scans it:
new files get rows, vanished files are flagged ``missing`` (their boxes are kept), files that
came back are un-flagged. The GUI and the CLI both resolve paths here.

Folders are searched recursively by default (image paths are then relative to the opened folder,
e.g. ``images/a.jpg``). An unzipped export (``data.layouts``: Roboflow, Label Studio, CVAT, YOLO,
VOCdevkit, labelme2coco/voc ...) — the folder, or a label file in it — opens as one project over
the export's image folders (not its visualisation folders), and its labels are imported when the
project is created, all or nothing: a bad label file stops the open with one error naming it.
Later opens only sync the images; the labels are the project's from then on.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from rnxstudio.core.model import ImageRecord, LabelSet
from rnxstudio.core.paths import projects_dir
from rnxstudio.data.store import PROJECT_SUFFIX, ProjectStore, StoreError


class ProjectError(RuntimeError):
    """The path cannot be opened as a project (message names the path and why)."""


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.missing or self.restored)


def _source_key(source: Path) -> str:
    return os.path.normcase(str(source.resolve()))


def project_file_for(source: str | os.PathLike) -> Path:
    """Where the project of an image folder or a video lives (whether or not it exists yet)."""
    src = Path(source)
    digest = hashlib.sha256(_source_key(src).encode("utf-8")).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", src.resolve().name or "root").strip("._")[:40] or "project"
    return projects_dir() / f"{slug}-{digest}{PROJECT_SUFFIX}"


def open_project(path: str | os.PathLike, *, recursive: bool = True, sync: bool = True) -> ProjectStore:
    """Open ``path`` — a ``.rnxproj`` file, an image folder, a video, an image (its folder), an
    unzipped export or a label file in one (see the module docstring).

    A folder or video gets its project created on first use; ``recursive`` applies to a new
    folder project (later opens keep the choice stored in the project). Raises ProjectError.
    """
    p = Path(path).expanduser()
    if p.suffix.lower() == PROJECT_SUFFIX:
        if not p.is_file():
            raise ProjectError(f"{p}: project file not found")
        try:
            store = ProjectStore.open(p)
        except StoreError as exc:
            raise ProjectError(str(exc)) from exc
        if sync:
            _sync_quietly(store)
        return store
    if not p.exists():
        raise ProjectError(f"{p}: no such file or folder")
    if p.is_file():
        from rnxstudio.data.scan import is_image, is_video

        if is_video(p):
            return _open_source(p, "video", recursive=False, sync=sync)
        if is_image(p):
            return _open_source(p.parent, "folder", recursive=recursive, sync=sync)
        layout = layout_for_open(p)
        if layout is not None:
            return _open_source(layout.root, "folder", recursive=recursive, sync=sync, layout=layout)
        raise ProjectError(f"{p}: not a project file, an image folder, an image, a video or a label file")
    if p.is_dir():
        if project_file_for(p).exists():  # made before: its labels are the project's now
            return _open_source(p, "folder", recursive=recursive, sync=sync)
        layout = layout_for_open(p)
        root = p if layout is None else layout.root
        return _open_source(root, "folder", recursive=recursive, sync=sync, layout=layout)
    raise ProjectError(f"{p}: not a regular file or folder")


def layout_for_open(path: Path):
    """The export layout ``path`` opens as (None for a plain image folder); ProjectError when its
    label files cannot even be listed."""
    from rnxstudio.data.errors import LabelFormatError
    from rnxstudio.data.layouts import detect_layout

    try:
        layout = detect_layout(path)
    except (LabelFormatError, OSError, UnicodeDecodeError) as exc:
        raise ProjectError(str(exc)) from exc
    return layout if layout is not None and layout.sources else None


def create_project(source: str | os.PathLike, project_file: str | os.PathLike, *, recursive: bool = True) -> ProjectStore:
    """Create a project for ``source`` (folder or video) at a place the user chose."""
    from rnxstudio.data.scan import is_video

    src = Path(source).expanduser()
    if not src.exists():
        raise ProjectError(f"{src}: no such file or folder")
    target = Path(project_file)
    if target.suffix.lower() != PROJECT_SUFFIX:
        target = target.with_name(target.name + PROJECT_SUFFIX)
    if target.exists():
        raise ProjectError(f"{target}: a file already exists there")
    kind = "video" if src.is_file() and is_video(src) else "folder"
    layout = None
    if kind == "folder" and not src.is_dir():
        layout = layout_for_open(src)
        if layout is None:
            raise ProjectError(f"{src}: not an image folder or a video")
        src = layout.root
    elif kind == "folder":
        layout = layout_for_open(src)
    _build(src.resolve(), kind, target, recursive, layout)
    return ProjectStore.open(target)


def _open_source(src: Path, kind: str, *, recursive: bool, sync: bool, layout=None) -> ProjectStore:
    src = src.resolve()
    target = project_file_for(src)
    if not target.exists():
        _build(src, kind, target, recursive, layout)
        return ProjectStore.open(target)
    try:
        store = ProjectStore.open(target)
    except StoreError as exc:
        raise ProjectError(f"{src}: its project file is damaged ({exc}); move it away to start over") from exc
    if sync:
        _sync_quietly(store)
    return store


def _build(src: Path, kind: str, target: Path, recursive: bool, layout=None) -> None:
    """Make the project in a temp file, then link it to ``target`` (never overwriting one).
    An export layout's labels are imported into the temp file first: all or nothing."""
    image_dirs = layout.image_dirs if layout is not None else []
    records = _video_records(src) if kind == "video" else _folder_records(src, recursive, image_dirs)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.creating{PROJECT_SUFFIX}")
    root = src.parent if kind == "video" else src
    try:
        with ProjectStore.create(tmp, root=root, kind=kind, source=src, durability="normal") as store:
            store.set_meta("recursive", "1" if recursive else "0")
            if image_dirs:
                store.set_meta_json("image_dirs", image_dirs)
            store.add_images(records)
            if layout is not None:
                _import_layout(store, layout)
        try:
            os.link(tmp, target)  # atomic, and fails if another process made it first
        except FileExistsError:
            pass
        except OSError:
            if not target.exists():
                os.replace(tmp, target)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _import_layout(store: ProjectStore, layout) -> None:
    from rnxstudio.data.errors import LabelFormatError
    from rnxstudio.data.layouts import describe, read_layout

    if layout.fmt == "yolo" and not layout.class_names:
        from rnxstudio.data.yolo import read_class_names

        folder = layout.sources[0].path
        if read_class_names(folder if folder.is_dir() else folder.parent) is None:
            # YOLO files hold class indices only: open the images, and say how to add the labels
            store.set_meta("layout", describe(layout))
            store.set_meta("layout_import", "labels not imported: no class names (classes.txt or data.yaml); "
                                            "import them with --names a,b,c")
            return
    try:
        ls = read_layout(layout, image_root=layout.root)
        report = store.import_labelset(ls)
    except (LabelFormatError, ValueError, OSError) as exc:
        raise ProjectError(f"{layout.name}: its labels cannot be imported, so no project was made: {exc}") from exc
    store.set_meta("layout", describe(layout))
    store.set_meta("layout_import", report.summary())


def scan_images(folder: Path, recursive: bool, image_dirs: list[str] | None = None) -> list[str]:
    """Image paths under ``folder`` (relative, natural order), only inside ``image_dirs`` when given."""
    from rnxstudio.data.scan import natural_key, scan_folder

    if not image_dirs:
        return scan_folder(folder, recursive=recursive)
    names: list[str] = []
    for sub in image_dirs:
        if (folder / sub).is_dir():
            names += [f"{sub}/{n}" for n in scan_folder(folder / sub, recursive=True)]
    return sorted(dict.fromkeys(names), key=natural_key)


def _folder_records(folder: Path, recursive: bool, image_dirs: list[str] | None = None) -> list[ImageRecord]:
    try:
        names = scan_images(folder, recursive, image_dirs)
    except OSError as exc:
        raise ProjectError(f"{folder}: cannot list the folder ({exc})") from exc
    if not names:
        where = f" in {', '.join(image_dirs)}" if image_dirs else ""
        hint = "" if recursive or image_dirs else " (sub-folders were not searched)"
        raise ProjectError(f"{folder}: no images found{where}{hint}")
    return [ImageRecord(path=n) for n in names]


def _video_records(video: Path) -> list[ImageRecord]:
    from rnxstudio.data.video import VideoError, VideoReader

    try:
        with VideoReader(video) as reader:
            n = reader.frame_count
            w, h = reader.size
            times = [reader.timestamp(i) for i in range(n)]
    except VideoError as exc:
        raise ProjectError(str(exc)) from exc
    if n <= 0:
        raise ProjectError(f"{video}: the video has no frames that can be decoded")
    return [ImageRecord(path=video.name, frame_index=i, timestamp=times[i], width=w, height=h) for i in range(n)]


def _sync_quietly(store: ProjectStore) -> None:
    try:
        sync_folder(store)
    except ProjectError:
        pass  # source unreachable (unmounted drive): open anyway, change nothing


def sync_folder(store: ProjectStore, *, recursive: bool | None = None) -> SyncReport:
    """Reconcile the project with its source on disk (see module docstring). One transaction."""
    report = SyncReport()
    source = store.source
    if store.kind == "video":
        present = source.is_file()
        flagged = [r.id for r in store.images() if r.missing == present]
        store.set_missing(flagged, not present)
        if flagged:
            (report.restored if present else report.missing).append(source.name)
        return report
    if not source.is_dir():
        raise ProjectError(f"{source}: image folder not found")
    if recursive is None:
        recursive = store.meta("recursive") == "1"
    on_disk = set(scan_images(source, recursive, store.meta_json("image_dirs", [])))
    known = {r.path: r for r in store.images() if r.frame_index is None}
    with store.transaction():
        report.added = sorted(on_disk - known.keys())
        if report.added:
            from rnxstudio.data.scan import natural_key

            report.added.sort(key=natural_key)
            store.add_images([ImageRecord(path=n) for n in report.added])
        gone = [r for path, r in known.items() if path not in on_disk and not r.missing]
        back = [r for path, r in known.items() if path in on_disk and r.missing]
        store.set_missing([r.id for r in gone], True)
        store.set_missing([r.id for r in back], False)
    report.missing = sorted(r.path for r in gone)
    report.restored = sorted(r.path for r in back)
    return report


def fill_image_sizes(store: ProjectStore, image_ids: list[int] | None = None) -> int:
    """Read unknown image sizes from file headers (no decode); unreadable files get an error text.
    Returns how many sizes were filled."""
    from rnxstudio.data.images import ImageLoadError, read_size

    filled = 0
    records = store.images(image_ids) if image_ids is not None else store.images()
    with store.transaction():
        for r in records:
            if r.width > 0 and r.height > 0 or r.missing or r.frame_index is not None:
                continue
            try:
                w, h = read_size(store.absolute_path(r))
            except (ImageLoadError, OSError) as exc:
                store.set_image_error(r.id, str(exc))
                continue
            store.set_image_size(r.id, w, h)
            filled += 1
    return filled


def write_frames(store: ProjectStore, ls: LabelSet, out_dir: str | os.PathLike, *, folder: str = "frames") -> LabelSet:
    """For a video LabelSet: write each frame as PNG under ``out_dir/folder`` and return a copy whose
    image paths name those files relative to ``out_dir`` (what COCO/VOC/YOLO writers need)."""
    import cv2

    from rnxstudio.data.atomic import atomic_write_bytes
    from rnxstudio.data.store_labels import frame_file_name
    from rnxstudio.data.video import VideoReader

    out = Path(out_dir)
    (out / folder).mkdir(parents=True, exist_ok=True)
    images: list[ImageRecord] = []
    readers: dict[str, VideoReader] = {}
    try:
        for rec in ls.images:
            if rec.frame_index is None:
                images.append(rec)
                continue
            video = store.absolute_path(rec)
            reader = readers.get(video) or readers.setdefault(video, VideoReader(video))
            rgb = reader.read(rec.frame_index)
            ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            if not ok:
                raise ProjectError(f"{video}: cannot encode frame {rec.frame_index} as PNG")
            name = f"{folder}/{frame_file_name(rec)}"
            atomic_write_bytes(out / name, buf.tobytes())
            images.append(ImageRecord(path=name, id=rec.id, width=rgb.shape[1], height=rgb.shape[0],
                                      status=rec.status, split=rec.split, extra=rec.extra))
    finally:
        for reader in readers.values():
            with contextlib.suppress(Exception):
                reader.close()
    return replace(ls, images=images, root=str(out))
