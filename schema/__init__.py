"""The knowledge specification: models, relation vocabulary, ids, the Cypher catalog and graph stores."""

from proda.schema.ids import chain_id, chunk_id, concept_id, document_id, normalise_name, relation_id
from proda.schema.models import (
    Chain,
    Chunk,
    Concept,
    Document,
    GraphRecord,
    Provenance,
    Relation,
)
from proda.schema.vocabulary import RelationType, Vocabulary, default_vocabulary

__all__ = [
    "Chain",
    "Chunk",
    "Concept",
    "Document",
    "GraphRecord",
    "Provenance",
    "Relation",
    "RelationType",
    "Vocabulary",
    "chain_id",
    "chunk_id",
    "concept_id",
    "default_vocabulary",
    "document_id",
    "normalise_name",
    "relation_id",
]
