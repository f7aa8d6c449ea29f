"""Export a Builder dataset in the chat format TRL's ``SFTTrainer`` takes: JSONL or a Hugging Face
dataset on disk. Each record keeps its id, relation and chunk so a model's behaviour maps back to the
graph."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from proda.errors import DependencyMissing, NotFound
from proda.schema.store.base import GraphStore, Row


def keyset_rows(store: GraphStore, query: str, params: Mapping[str, Any], page_size: int = 5000) -> Iterator[Row]:
    """Every row of a catalog ``query`` that pages by id (``$after``, ``$limit``, ordered by ``id``), one
    page per round trip: keyset paging stays correct under concurrent writes, unlike SKIP."""
    after = ""
    while True:
        rows = store.query(query, {**params, "after": after, "limit": page_size})
        yield from rows
        if len(rows) < page_size:
            return
        after = rows[-1]["id"]


def iter_examples(store: GraphStore, dataset: str, discipline: str | None = None,
                  page_size: int = 5000) -> Iterator[dict[str, Any]]:
    """Records ``{id, messages, discipline, family, relation_id, chunk_id, qa_hash, template_version,
    paraphrased_by, template}`` in id order; ``paraphrased_by`` (``backend:model``) and ``template`` (the
    template's messages) are None for an example that kept its template wording."""
    for r in keyset_rows(store, "training_examples", {"dataset": dataset, "discipline": discipline}, page_size):
        yield {"id": r["id"], "messages": json.loads(r["messages"]), "discipline": r["discipline"],
               "family": r["family"], "relation_id": r["relation_id"], "chunk_id": r["chunk_id"],
               "qa_hash": r["qa_hash"], "template_version": r["template_version"],
               "paraphrased_by": r["paraphrased_by"],
               "template": json.loads(r["template"]) if r["template"] else None}


def export_jsonl(store: GraphStore, dataset: str, out: Path, discipline: str | None = None) -> int:
    """Write the dataset as JSONL (one chat record per line); returns the count. Written to a
    temporary name and renamed, so a crash never leaves a half file under the real name."""
    n = write_jsonl(iter_examples(store, dataset, discipline), out)
    if n == 0:
        raise NotFound(f"dataset {dataset!r} has no examples" + (f" in {discipline}" if discipline else "")
                       + "; run `proda build` first")
    return n


def write_jsonl(records: Iterable[dict[str, Any]], out: Path) -> int:
    """Write ``records`` as JSONL under a temporary name and rename it, so a crash never leaves a half
    file under the real name; returns the count (0: nothing is written and ``out`` is untouched)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    if n == 0:
        tmp.unlink()
        return 0
    tmp.replace(out)
    return n


def export_hf(store: GraphStore, dataset: str, out: Path, discipline: str | None = None) -> int:
    """Save the dataset with ``datasets.Dataset.save_to_disk`` (Arrow/parquet-backed); returns the count."""
    try:
        from datasets import Dataset
    except ImportError as e:
        raise DependencyMissing("datasets", extra="train", why="to export a Hugging Face dataset") from e
    records = list(iter_examples(store, dataset, discipline))
    if not records:
        raise NotFound(f"dataset {dataset!r} has no examples; run `proda build` first")
    Dataset.from_list(records).save_to_disk(str(out))
    return len(records)
