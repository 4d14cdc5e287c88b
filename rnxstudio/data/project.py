"""Turn what the user opened (project file, image folder, video file) into a ProjectStore.

A ``.rnxproj`` file opens directly. An image folder or a video resolves to a project file under
``core.paths.projects_dir()`` named after the source and keyed by a hash of its absolute path, so
nothing is ever written into the user's folder and re-opening the same folder finds the same
project. The first open builds the project in a temp file and links it into place, so a killed
first open never leaves a half-made project behind. Every later open of a folder re-scans it:
new files get rows, vanished files are flagged ``missing`` (their boxes are kept), files that
came back are un-flagged. The GUI and the CLI both resolve paths here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass, field
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


def open_project(path: str | os.PathLike, *, recursive: bool = False, sync: bool = True) -> ProjectStore:
    """Open ``path`` — a ``.rnxproj`` file, an image folder, a video, or an image (its folder).

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
        raise ProjectError(f"{p}: not a project file, an image folder, an image or a video")
    if p.is_dir():
        return _open_source(p, "folder", recursive=recursive, sync=sync)
    raise ProjectError(f"{p}: not a regular file or folder")


def create_project(source: str | os.PathLike, project_file: str | os.PathLike, *, recursive: bool = False) -> ProjectStore:
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
    if kind == "folder" and not src.is_dir():
        raise ProjectError(f"{src}: not an image folder or a video")
    _build(src.resolve(), kind, target, recursive)
    return ProjectStore.open(target)


def _open_source(src: Path, kind: str, *, recursive: bool, sync: bool) -> ProjectStore:
    src = src.resolve()
    target = project_file_for(src)
    if not target.exists():
        _build(src, kind, target, recursive)
        return ProjectStore.open(target)
    try:
        store = ProjectStore.open(target)
    except StoreError as exc:
        raise ProjectError(f"{src}: its project file is damaged ({exc}); move it away to start over") from exc
    if sync:
        _sync_quietly(store)
    return store


def _build(src: Path, kind: str, target: Path, recursive: bool) -> None:
    """Make the project in a temp file, then link it to ``target`` (never overwriting one)."""
    records = _video_records(src) if kind == "video" else _folder_records(src, recursive)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.creating{PROJECT_SUFFIX}")
    root = src.parent if kind == "video" else src
    try:
        with ProjectStore.create(tmp, root=root, kind=kind, source=src, durability="normal") as store:
            store.set_meta("recursive", "1" if recursive else "0")
            store.add_images(records)
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


def _folder_records(folder: Path, recursive: bool) -> list[ImageRecord]:
    from rnxstudio.data.scan import scan_folder

    try:
        names = scan_folder(folder, recursive=recursive)
    except OSError as exc:
        raise ProjectError(f"{folder}: cannot list the folder ({exc})") from exc
    if not names:
        hint = "" if recursive else " (sub-folders were not searched)"
        raise ProjectError(f"{folder}: no images found{hint}")
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
    from rnxstudio.data.scan import scan_folder

    on_disk = set(scan_folder(source, recursive=recursive))
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
                                      status=rec.status))
    finally:
        for reader in readers.values():
            with contextlib.suppress(Exception):
                reader.close()
    return LabelSet(categories=ls.categories, images=images, boxes=ls.boxes, root=str(out), info=ls.info)
