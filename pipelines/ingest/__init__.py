"""``proda ingest``: read JSONL, Markdown/text and PDF documents, normalise and chunk them, and store
Document and Chunk nodes with content hashes (re-ingesting an unchanged document writes nothing)."""

from proda.pipelines.ingest.chunking import ChunkSpan, chunk_text, estimate_tokens
from proda.pipelines.ingest.normalise import normalise_text
from proda.pipelines.ingest.readers import (
    RawDocument,
    Rejected,
    check_text,
    read_any,
    read_jsonl,
    read_pdf,
    read_text_folder,
)
from proda.pipelines.ingest.stage import IngestReport, IngestStage, ingest_paths

__all__ = [
    "ChunkSpan",
    "IngestReport",
    "IngestStage",
    "RawDocument",
    "Rejected",
    "check_text",
    "chunk_text",
    "estimate_tokens",
    "ingest_paths",
    "normalise_text",
    "read_any",
    "read_jsonl",
    "read_pdf",
    "read_text_folder",
]
