"""The parts of a YOLO ``data.yaml`` rnxstudio reads and writes, without a YAML library.

Ultralytics / YOLOv5 ``data.yaml`` (docs.ultralytics.com/datasets/detect): ``path`` (dataset root),
``train`` / ``val`` / ``test`` (each a folder of images, a ``.txt`` list of images, or a list of
either, relative to ``path``), ``names`` (a list, a flow list or an ``index: name`` mapping) and
``nc``. Label files sit where the images are with the last ``images`` folder replaced by
``labels``. Roboflow exports write ``train: ../train/images`` (relative to a folder one level
below the unzipped export); :func:`split_sources` also finds those from the export's root.

Only this subset is parsed: top-level scalar keys, flow and block lists, and the ``names``
mapping. Anything else in the file is ignored.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

YAML_NAMES = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")
SPLIT_KEYS = {"train": "train", "val": "val", "validation": "val", "valid": "val", "test": "test"}


def normalize_split(name: str | None) -> str | None:
    """``train``/``val``/``test`` for the usual spellings (``valid``, ``validation``); others as given."""
    if name is None:
        return None
    n = name.strip()
    return SPLIT_KEYS.get(n.lower(), n) or None


def yaml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def scalar(s: str) -> str:
    s = s.strip()
    if s.startswith('"'):
        try:
            return json.loads(s[: s.rfind('"') + 1])
        except ValueError:
            return s.strip('"')
    if s.startswith("'") and s.rfind("'") > 0:
        return s[1: s.rfind("'")].replace("''", "'")
    return re.sub(r"\s+#.*$", "", s)


def split_flow(body: str) -> list[str]:
    """Items of a YAML flow sequence body (``a, 'b, c', "d"``), quotes respected."""
    items, cur, quote = [], "", None
    for ch in body:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            cur += ch
        elif ch == ",":
            items.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        items.append(cur)
    return [scalar(i) for i in items]


def _block(lines: list[str], start: int) -> tuple[list[str], dict[int, str]]:
    """The ``- item`` list or ``k: v`` mapping indented under a key on line ``start - 1``."""
    seq: list[str] = []
    mapping: dict[int, str] = {}
    for sub in lines[start:]:
        if not sub.strip() or sub.strip().startswith("#"):
            continue
        if not sub[:1].isspace() and not sub.startswith("-"):
            break
        item = sub.strip()
        if item.startswith("- ") or item == "-":
            seq.append(scalar(item[1:]))
        else:
            k, _, v = item.partition(":")
            mapping[int(k.strip())] = scalar(v)
    return seq, mapping


def names_from_yaml(text: str) -> list[str] | None:
    """``names`` from a data.yaml: flow list, block list or ``index: name`` mapping."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^names\s*:\s*(.*)$", line)
        if not m:
            continue
        rest = m.group(1).strip()
        if rest.startswith("["):
            end = rest.rfind("]")
            return split_flow(rest[1:end] if end > 0 else rest[1:])
        if rest.startswith("{"):
            mapping = {}
            for p in split_flow(rest[1: rest.rfind("}")]):
                k, _, v = p.partition(":")
                mapping[int(k.strip())] = scalar(v)
            return [mapping[k] for k in sorted(mapping)]
        seq, mapping = _block(lines, i + 1)
        if mapping:
            if sorted(mapping) != list(range(len(mapping))):
                raise ValueError(f"names indices {sorted(mapping)} are not 0..{len(mapping) - 1}")
            return [mapping[k] for k in range(len(mapping))]
        return seq
    return None


def top_values(text: str) -> dict[str, list[str]]:
    """Top-level keys other than ``names`` with their value(s) as a list of strings (empty for a
    key with no value). Block lists under a key are read; nested mappings are skipped."""
    lines = text.splitlines()
    out: dict[str, list[str]] = {}
    for i, line in enumerate(lines):
        m = re.match(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$", line)
        if not m or m.group(1) == "names":
            continue
        key, rest = m.group(1), m.group(2).strip()
        if rest.startswith("["):
            end = rest.rfind("]")
            out[key] = [v for v in split_flow(rest[1:end] if end > 0 else rest[1:]) if v]
        elif rest and not rest.startswith("#"):
            value = scalar(rest)
            out[key] = [value] if value else []
        else:
            try:
                seq, _ = _block(lines, i + 1)
            except ValueError:
                seq = []
            out[key] = [v for v in seq if v]
    return out


@dataclass
class SplitSource:
    split: str               # train / val / test
    images: Path | None      # folder of images (None when the yaml names a list file)
    labels: Path | None      # folder of label files
    listed: list[Path] | None = None  # images named by a .txt list


def labels_dir_for(images: Path) -> Path:
    """Ultralytics' rule: the last ``images`` component becomes ``labels``; else the same folder."""
    parts = list(images.parts)
    for k in range(len(parts) - 1, -1, -1):
        if parts[k] == "images":
            parts[k] = "labels"
            return Path(*parts)
    return images


def _candidates(value: str, yaml_dir: Path, base: Path) -> list[Path]:
    p = PurePosixPath(value.replace("\\", "/"))
    if p.is_absolute() or os.path.isabs(value):
        out = [Path(value)]
    else:
        out = [base / p, yaml_dir / p]
    stripped = list(p.parts)
    while stripped and stripped[0] == "..":  # Roboflow: "../train/images" from the export's root
        stripped.pop(0)
    if stripped:
        rel = Path(*stripped)
        out += [yaml_dir / rel, base / rel]
        if os.path.isabs(value):  # a path of another machine: its tail may exist here
            out += [yaml_dir / Path(*rel.parts[k:]) for k in range(1, len(rel.parts))]
    return list(dict.fromkeys(out))


def split_sources(yaml_path: Path, text: str) -> tuple[list[SplitSource], list[str]]:
    """The splits a data.yaml names, resolved on this machine; and the values it names that do
    not exist here (for the import summary)."""
    values = top_values(text)
    yaml_dir = yaml_path.parent
    root = (values.get("path") or [""])[0]
    base = yaml_dir
    if root:
        cand = Path(root) if os.path.isabs(root) else yaml_dir / root
        base = cand if cand.is_dir() else yaml_dir
    missing: list[str] = []
    found_by_path: dict[Path, list[str]] = {}
    for key in ("train", "val", "validation", "test"):
        for value in values.get(key, []):
            found = next((c for c in _candidates(value, yaml_dir, base) if c.exists()), None)
            if found is None:
                missing.append(f"{key}: {value}")
                continue
            found_by_path.setdefault(found.resolve(), []).append(normalize_split(key))
    sources: list[SplitSource] = []
    for found, splits in found_by_path.items():
        # one folder named by several keys (train: images, val: images) has no split of its own
        split = splits[0] if len(set(splits)) == 1 else None
        if found.is_file():
            listed = []
            for line in found.read_text(encoding="utf-8-sig").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    q = Path(line)
                    listed.append(q if q.is_absolute() else (found.parent / line).resolve())
            sources.append(SplitSource(split, None, None, listed))
        else:
            sources.append(SplitSource(split, found, labels_dir_for(found)))
    return sources, missing
