"""Test helper: every place in a JSON-like tree, for mutation tests of the label readers."""

from __future__ import annotations

from collections.abc import Iterator


def tree_paths(obj, prefix: tuple = ()) -> Iterator[tuple]:
    """Yield the key/index path of every node of ``obj`` (dicts and lists), the root's () first."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from tree_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from tree_paths(v, prefix + (i,))
