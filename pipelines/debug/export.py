"""Export a patch set in the chat format TRL's ``SFTTrainer`` takes (JSONL, one record per line), the
same records as the Builder's export, so ``proda train --train-file`` trains V2 on it directly. Each
record keeps its id, kind and the diagnoses it repairs, so a V2 model's behaviour maps back to the
graph."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from proda.errors import NotFound
from proda.pipelines.build.export import keyset_rows, write_jsonl
from proda.schema.store.base import GraphStore


def iter_patches(store: GraphStore, patch_set: str, discipline: str | None = None,
                 page_size: int = 5000) -> Iterator[dict[str, Any]]:
    """Records ``{id, messages, discipline, kind, family, qa_hash, diagnoses, chains}`` of the complete
    sets named ``patch_set``, in id order."""
    for r in keyset_rows(store, "debug_patches", {"name": patch_set, "discipline": discipline}, page_size):
        yield {"id": r["id"], "messages": json.loads(r["messages"]), "discipline": r["discipline"],
               "kind": r["kind"], "family": r["family"], "qa_hash": r["qa_hash"],
               "diagnoses": sorted(r["diagnoses"] or []), "chains": sorted(r["chains"] or [])}


def export_jsonl(store: GraphStore, patch_set: str, out: Path, discipline: str | None = None) -> int:
    """Write the patch set as JSONL; returns the count. Raises :class:`NotFound` for a set with no
    complete discipline. Written to a temporary name and renamed, so a crash never leaves a half file."""
    n = write_jsonl(iter_patches(store, patch_set, discipline), out)
    if n == 0:
        raise NotFound(f"patch set {patch_set!r} has no complete patches" + (f" in {discipline}" if discipline else "")
                       + "; run `proda patch` first")
    return n
