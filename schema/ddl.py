"""The graph's indexes and constraints, declared once and rendered per backend by the adapters.

Every element kind is looked up by its deterministic id, so every lookup and traceback is an index
seek proportional to its result, never a scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class IndexSpec:
    """A range index on ``label.prop``; ``unique`` adds a uniqueness constraint where supported."""

    entity: Literal["node", "relationship"]
    label: str
    prop: str
    unique: bool = False


NODE_LABELS = ("Document", "Chunk", "Concept", "Chain", "Quarantine", "Merge")
RELATION_TYPE = "RELATION"

INDEXES: tuple[IndexSpec, ...] = (
    IndexSpec("node", "Document", "id", unique=True),
    IndexSpec("node", "Chunk", "id", unique=True),
    IndexSpec("node", "Concept", "id", unique=True),
    IndexSpec("node", "Chain", "id", unique=True),
    IndexSpec("node", "Quarantine", "id", unique=True),
    IndexSpec("node", "Merge", "id", unique=True),
    IndexSpec("node", "BenchmarkItem", "id", unique=True),
    IndexSpec("node", "TrainingExample", "id", unique=True),
    IndexSpec("node", "Diagnosis", "id", unique=True),
    IndexSpec("node", "Patch", "id", unique=True),
    IndexSpec("node", "PatchSet", "id", unique=True),
    IndexSpec("node", "Chunk", "document_id"),
    IndexSpec("node", "Concept", "discipline"),
    IndexSpec("node", "Concept", "match_key"),
    IndexSpec("node", "Chain", "discipline"),
    IndexSpec("node", "Chain", "split"),
    IndexSpec("node", "BenchmarkItem", "qa_hash"),
    IndexSpec("node", "TrainingExample", "qa_hash"),
    IndexSpec("node", "TrainingExample", "dataset"),
    IndexSpec("node", "BenchmarkItem", "benchmark"),
    # a traceback finds its evaluation run by id or by name
    IndexSpec("node", "EvalRun", "id"),
    IndexSpec("node", "EvalRun", "name"),
    IndexSpec("node", "Diagnosis", "run"),
    IndexSpec("node", "Patch", "set_id"),
    IndexSpec("node", "Patch", "qa_hash"),
    IndexSpec("node", "PatchSet", "name"),
    IndexSpec("relationship", "RELATION", "id"),
    # the Tester's peers: the relations stated in the chunks of one document (bench_peers)
    IndexSpec("relationship", "RELATION", "chunk_id"),
)


@dataclass(frozen=True)
class VectorIndexSpec:
    """A vector index on ``label.prop`` for nearest-neighbour lookups by cosine similarity.

    Not part of :data:`INDEXES`: it is created on first use by the stage that stores the vectors
    (entity resolution by embeddings), so a graph that never stores any has none.
    """

    label: str
    prop: str
    dimension: int
    name: str  # the index name where the backend names indexes (Neo4j)

    def statement(self, backend: str) -> str:
        """The DDL that creates the index on ``backend`` (``falkordb`` or ``neo4j``)."""
        if backend == "neo4j":
            # IF NOT EXISTS: Neo4j skips an index of the same name or schema; FalkorDB has no such clause,
            # so callers first ask the concept_embedding_index query whether the index exists
            return (f"CREATE VECTOR INDEX {self.name} IF NOT EXISTS FOR (n:{self.label}) ON n.{self.prop} "
                    f"OPTIONS {{indexConfig: {{`vector.dimensions`: {self.dimension}, "
                    "`vector.similarity_function`: 'cosine'}}")
        return (f"CREATE VECTOR INDEX FOR (n:{self.label}) ON (n.{self.prop}) "
                f"OPTIONS {{dimension: {self.dimension}, similarityFunction: 'cosine'}}")


# all-MiniLM-L6-v2 sentence vectors of concept names; concept_embedding_neighbours queries it by these names
CONCEPT_EMBEDDING_INDEX = VectorIndexSpec("Concept", "embedding", 384, "proda_concept_embedding")
