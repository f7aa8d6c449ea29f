"""A small corpus for extraction tests: economics chunks of one three-step causal passage, written to
the graph as a user's ingest would leave them (documents and chunks, nothing extracted yet)."""

from __future__ import annotations

from proda.schema import Chunk, Document
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter

TEXT = ("Higher interest rates reduce borrowing. Lower borrowing decreases investment. "
        "Investment increases output.")


def corpus(store: GraphStore, n: int = 3) -> list[Chunk]:
    """Write ``n`` economics chunks of :data:`TEXT` (each numbered, so each has an id of its own)."""
    doc = Document(source_id="economics/rates", discipline="economics", title="Rates")
    chunks = [Chunk(document_id=doc.id, ordinal=i, discipline="economics", text=f"{TEXT} ({i})") for i in range(n)]
    GraphWriter(store).write([doc, *chunks])
    return chunks
