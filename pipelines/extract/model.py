"""What an extractor returns for one chunk, before it becomes graph elements.

The shape *is* the top-down order of method.md: an extractor emits reasoning chains (L3); each
chain is a sequence of steps, each step an L2 triple with its evidence span; L1 concepts are then
harvested from the steps' subjects and objects (:mod:`proda.pipelines.extract.topdown`). LLM
backends receive :func:`extraction_json_schema` as their structured-output schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ChunkInput(BaseModel):
    """The text an extractor works on, with what it needs to know about it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_id: str
    discipline: str
    text: str
    title: str = ""
    section: str = ""


class ExtractedStep(BaseModel):
    """One L2 triple of a chain: ``subject --relation--> object``, stated by ``evidence``."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=200, description="concept name, as written in the text")
    relation: str = Field(min_length=1, max_length=64, description="relation type from the vocabulary")
    object: str = Field(min_length=1, max_length=200, description="concept name, as written in the text")
    evidence: str = Field(min_length=1, max_length=2000,
                          description="verbatim span of the chunk that states this step")


class ExtractedChain(BaseModel):
    """One L3 reasoning chain: consecutive steps share a concept (step i's object is step i+1's subject)."""

    model_config = ConfigDict(extra="forbid")

    steps: list[ExtractedStep] = Field(min_length=1, max_length=8)
    summary: str = Field(default="", max_length=500, description="one sentence: what the chain concludes")


class ChunkExtraction(BaseModel):
    """Everything extracted from one chunk."""

    model_config = ConfigDict(extra="forbid")

    chains: list[ExtractedChain] = Field(default_factory=list, max_length=32)


def extraction_json_schema() -> dict[str, Any]:
    """The JSON schema given to LLM backends (tool input schema / guided JSON)."""
    return ChunkExtraction.model_json_schema()
