"""File names inside label files versus image files on disk.

Label files written by other tools name images in many ways: relative paths, absolute paths
from another machine, Windows separators, Label Studio's ``../../data/upload/1/8f3a2b1c-img.jpg``.
:class:`ImageResolver` maps such a name to a file under an image root: the relative path
first, then the base name anywhere under the root, then the base name without an upload-hash
prefix. Names that match nothing resolve to ``None`` so the caller can report them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")  # Label Studio: "<8 hex>-<original name>"


def normalize_name(name: str) -> str:
    """A label file name with forward slashes and no leading ``./``."""
    s = name.replace("\\", "/")
    while s.startswith("./"):
        s = s[2:]
    return s


def relative_name(path: str, root: str | os.PathLike | None) -> str:
    """``path`` as written into a label file: POSIX, relative to ``root`` when it is inside it.

    Relative paths are kept as they are (normalised); an absolute path outside ``root`` is
    kept absolute rather than turned into a fragile ``../..`` chain.
    """
    p = normalize_name(path)
    if root is None or not os.path.isabs(path):
        return p
    try:
        rel = os.path.relpath(path, os.fspath(root))
    except ValueError:  # different drives on Windows
        return p
    if rel.startswith(".."):
        return p
    return normalize_name(rel)


def per_image_name(path: str, root: str | os.PathLike | None) -> str:
    """The relative name a per-image label file (VOC XML, YOLO txt) is derived from: the
    image's path relative to ``root``, or just its file name when it lies outside ``root`` —
    a label file is never written next to an absolute path."""
    rel = relative_name(path, root)
    return PurePosixPath(rel).name if os.path.isabs(rel) else rel


def basename(name: str) -> str:
    return PurePosixPath(normalize_name(name)).name


class ImageResolver:
    """Find the file on disk for a name from a label file, relative to ``root``.

    The basename index of ``root`` (recursive, hidden folders skipped) is built once, on the
    first name that does not resolve directly.
    """

    def __init__(self, root: str | os.PathLike | None):
        self.root = Path(root) if root is not None else None
        self._index: dict[str, list[str]] | None = None

    def _by_basename(self) -> dict[str, list[str]]:
        if self._index is None:
            from rnxstudio.data.scan import scan_folder

            index: dict[str, list[str]] = {}
            if self.root is not None and self.root.is_dir():
                for rel in scan_folder(self.root, recursive=True):
                    index.setdefault(PurePosixPath(rel).name.casefold(), []).append(rel)
            self._index = index
        return self._index

    def _inside(self, path: Path) -> bool:
        """Whether ``path`` lies under the root once ``..`` is resolved (symlinks are left alone, so a
        linked image folder still works): a name like ``../../etc/x`` never reaches outside."""
        root = os.path.abspath(self.root)
        try:
            return os.path.commonpath([root, os.path.abspath(path)]) == root
        except ValueError:  # different drives on Windows
            return False

    def resolve(self, name: str) -> Path | None:
        """The existing file for ``name`` under the root, or ``None`` when nothing matches (or it
        is ambiguous, or the name points outside the root)."""
        norm = normalize_name(name)
        if os.path.isabs(name) and os.path.isfile(name) and (self.root is None or self._inside(Path(name))):
            return Path(name)
        if self.root is None:
            return Path(norm) if os.path.isfile(norm) else None
        direct = self.root / norm
        if not norm.startswith("/") and self._inside(direct) and direct.is_file():
            return direct
        base = basename(norm)
        for candidate in (base, *(_UPLOAD_PREFIX.findall(base.casefold()))):
            flat = self.root / candidate
            if flat.is_file():
                return flat
            hits = self._by_basename().get(candidate.casefold(), [])
            if len(hits) == 1:
                return self.root / hits[0]
        return None
