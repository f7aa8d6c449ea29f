"""Pydantic models of the knowledge structure: the boundary between files, models, graph and APIs.

Every model forbids unknown fields. An element's ``id`` is derived from its identity fields when
not given (see :mod:`proda.schema.ids`); ``fingerprint`` is always the derived id, so two records
that carry the same ``id`` but different identities are detected as a collision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from proda.schema import ids

Discipline = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="snake_case discipline")]
NonEmpty = Annotated[str, Field(min_length=1)]


class Provenance(BaseModel):
    """Who produced an element, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extractor: str = Field(description="extractor name, e.g. 'heuristic', 'anthropic', 'manual'")
    model: str | None = Field(default=None, description="model name, None for rule-based extractors")
    prompt_version: str | None = Field(default=None, description="prompt or rule-set version")


class _Element(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(default="", description="deterministic id; derived from the identity when empty")

    def derived_id(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @property
    def fingerprint(self) -> str:
        """The id derived from the identity fields: equal fingerprints mean the same element.

        An element whose id was derived when it was validated (no id given) has it as its id already:
        hashing again is the largest single cost of writing elements built in memory (a fifth of a bulk
        load's client time). That id cannot go stale: identity fields are frozen, and a copy with an
        update counts its id as given (:meth:`model_copy`)."""
        if self.id and "id" not in self.__pydantic_fields_set__:
            return self.id
        return self.derived_id()

    @model_validator(mode="after")
    def _fill_id(self) -> _Element:
        if not self.id:
            # written past __setattr__, which would count the id as given and so defeat the fingerprint
            self.__dict__["id"] = self.derived_id()
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copy = super().model_copy(update=update, deep=deep)
        if update:  # the update may change the identity (it bypasses frozen fields): derive it again
            copy.__pydantic_fields_set__.add("id")
        return copy


class Document(_Element):
    """A source document (a textbook module, a file)."""

    kind: Literal["document"] = "document"
    source_id: NonEmpty = Field(description="stable id in the source collection", frozen=True)
    discipline: Discipline
    title: str = ""
    book: str = ""
    source: str = ""
    license: str = ""
    content_hash: str = Field(default="", description="SHA-256 of the normalised text")

    def derived_id(self) -> str:
        return ids.document_id(self.source_id)


class Chunk(_Element):
    """A passage of a document: the unit of extraction and of grounding."""

    kind: Literal["chunk"] = "chunk"
    document_id: NonEmpty = Field(frozen=True)
    ordinal: int = Field(ge=0, description="position within the document", frozen=True)
    discipline: Discipline
    text: NonEmpty
    section: str = ""
    n_tokens: int = Field(default=0, ge=0)
    content_hash: str = Field(default="", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _hash(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("content_hash") and isinstance(data.get("text"), str):
            data = {**data, "content_hash": ids.content_hash(data["text"])}
        return data

    def derived_id(self) -> str:
        return ids.chunk_id(self.document_id, self.ordinal, self.content_hash)


class Concept(_Element):
    """L1: a key concept of a discipline."""

    kind: Literal["concept"] = "concept"
    name: NonEmpty = Field(frozen=True)
    discipline: Discipline = Field(frozen=True)
    aliases: list[str] = Field(default_factory=list)
    description: str = ""
    chunk_ids: list[str] = Field(default_factory=list, description="chunks the concept was harvested from")
    provenance: Provenance | None = None

    def derived_id(self) -> str:
        return ids.concept_id(self.name, self.discipline)


class Relation(_Element):
    """L2: a typed relation ``subject -[type]-> object`` between two concepts."""

    kind: Literal["relation"] = "relation"
    type: NonEmpty = Field(description="a type from the relation vocabulary", frozen=True)
    subject_id: NonEmpty = Field(frozen=True)
    object_id: NonEmpty = Field(frozen=True)
    discipline: Discipline
    evidence: str = Field(default="", description="the source span that states the relation")
    chunk_id: str = ""
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    provenance: Provenance | None = None

    def derived_id(self) -> str:
        return ids.relation_id(self.subject_id, self.type, self.object_id)


class Chain(_Element):
    """L3: a reasoning chain, the ordered relations ``c0 -r1-> c1 -r2-> ... -rn-> cn``."""

    kind: Literal["chain"] = "chain"
    discipline: Discipline
    relation_ids: list[str] = Field(min_length=1, frozen=True)
    concept_ids: list[str] = Field(min_length=2, description="c0..cn, one more than relation_ids")
    relation_types: list[str] = Field(default_factory=list, description="types of relation_ids, in order")
    chunk_id: str = ""
    evidence: str = ""
    split: Literal["train", "dev", "test"] | None = None
    origin: Literal["extracted", "composed"] = Field(default="extracted", description=(
        "extracted: stated in one chunk by an extractor; composed: joined from relations of one document by "
        "`proda compose`"))
    provenance: Provenance | None = None

    @model_validator(mode="after")
    def _shape(self) -> Chain:
        if len(self.concept_ids) != len(self.relation_ids) + 1:
            raise ValueError(
                f"chain has {len(self.relation_ids)} relations, so it needs {len(self.relation_ids) + 1} "
                f"concept_ids, got {len(self.concept_ids)}"
            )
        if self.relation_types and len(self.relation_types) != len(self.relation_ids):
            raise ValueError("relation_types must list one type per relation id")
        return self

    def derived_id(self) -> str:
        return ids.chain_id(self.relation_ids)


GraphRecord = Annotated[Document | Chunk | Concept | Relation | Chain, Field(discriminator="kind")]
"""One line of a ``proda load`` JSONL file, discriminated by ``kind``."""
