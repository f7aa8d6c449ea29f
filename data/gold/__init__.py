"""The hand-annotated extraction gold set, installed as package data (``dev.jsonl``, ``test.jsonl``).

See README.md beside it; :func:`bundled` finds a split by name, so ``proda extract score --gold dev``
works from any directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SPLITS = ("dev", "test")


def bundled(split: str) -> Path:
    """Path of the installed gold split ``dev`` or ``test``."""
    if split not in SPLITS:
        raise ValueError(f"no bundled gold split {split!r}; use one of {', '.join(SPLITS)}")
    return Path(str(resources.files("proda.gold") / f"{split}.jsonl"))
