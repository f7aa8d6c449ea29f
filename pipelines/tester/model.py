"""Benchmark items: the exported record (pydantic, the boundary), ids, and the instance hash.

An item is one multiple-choice question built from one held-out L3 chain. Its id derives from the
benchmark name and the chain id, so rebuilding MERGEs into the same node. Its ``qa_hash`` is the
instance identity that later stages must compute with :func:`instance_hash` for every training
example and patch, so that ``bench_orthogonality`` can prove no training instance is a benchmark item.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Operator = Literal["INVREL", "TRUNC", "NEARMISS"]
OPERATORS: tuple[Operator, ...] = ("INVREL", "TRUNC", "NEARMISS")
TEMPLATE_VERSION = "q-v1"  # bump when the question wording changes: it changes every qa_hash
_SEP = "\x1f"
_NON_WORD = re.compile(r"[\W_]+")


def normalise_text(text: str) -> str:
    """Text as compared for instance identity: NFKC, case-folded, punctuation and runs of space as one space."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def instance_hash(question: str, answer: str) -> str:
    """The instance identity of a question/answer pair (SHA-256 hex of the normalised texts).

    Two instances whose question and answer differ only in case, spacing or punctuation have the
    same hash. Training examples and patches store it as ``qa_hash`` (see ``bench_orthogonality``).
    """
    joined = normalise_text(question) + _SEP + normalise_text(answer)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def item_id(benchmark: str, chain_id: str) -> str:
    """Id of the item a benchmark builds from a chain: one item per (benchmark, chain)."""
    return "bmi_" + hashlib.sha256(f"{benchmark}{_SEP}{chain_id}".encode()).hexdigest()[:20]


class OptionRecord(BaseModel):
    """One option of an item: the concept it names and, for a distractor, where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0, description="position among the (shuffled) options")
    text: str = Field(min_length=1, description="the concept's name as shown")
    concept_id: str
    correct: bool
    operator: Literal["ANSWER", "INVREL", "TRUNC", "NEARMISS"]
    kind: str = Field(description="answer; invrel; trunc; or the NEARMISS kind: sibling_chain, sibling, "
                                  "alt_ending, neighbour, peer")
    via: list[str] = Field(default_factory=list, description="ids of the relations (and chains) it was "
                                                             "derived from, in path order")
    detail: str = Field(default="", description="e.g. which step was inverted, or how many steps were taken")


class BenchmarkItemRecord(BaseModel):
    """A benchmark item as stored on its graph node (``record``) and exported."""

    model_config = ConfigDict(extra="forbid")

    id: str
    benchmark: str
    discipline: str
    split: Literal["test", "dev"]
    chain_id: str
    question: str
    choices: list[str] = Field(min_length=2)
    answer_index: int = Field(ge=0)
    answer: str
    start_concept_id: str
    answer_concept_id: str
    relation_types: list[str]
    options: list[OptionRecord]
    qa_hash: str
    seed: int
    template_version: str = TEMPLATE_VERSION
    paraphrased_by: str | None = Field(default=None, description="backend:model that reworded the question; "
                                                                 "None: the template wording")
    template: str | None = Field(default=None, description="the template question a paraphrase replaced")

    @model_validator(mode="after")
    def _consistent(self) -> BenchmarkItemRecord:
        if [o.text for o in self.options] != self.choices:
            raise ValueError(f"item {self.id}: choices differ from the options' texts")
        if [o.index for o in self.options] != list(range(len(self.options))):
            raise ValueError(f"item {self.id}: options must be indexed 0..{len(self.options) - 1} in order")
        correct = [o.index for o in self.options if o.correct]
        if correct != [self.answer_index] or self.choices[self.answer_index] != self.answer:
            raise ValueError(f"item {self.id}: exactly the option at answer_index must be correct")
        if (self.paraphrased_by is None) != (self.template is None):
            raise ValueError(f"item {self.id}: a paraphrased question records both paraphrased_by and its template")
        return self

    @property
    def distractors(self) -> list[OptionRecord]:
        return [o for o in self.options if not o.correct]


@dataclass(frozen=True)
class ConceptRef:
    """A concept as the graph describes it now: its canonical id (SAME_AS merges) and its aliases."""

    id: str
    name: str
    canonical_id: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A distractor candidate found by one operator's query."""

    operator: Operator
    kind: str
    concept: ConceptRef
    via: tuple[str, ...]
    detail: str = ""
    preference: int = 0  # lower is tried first within the operator (e.g. TRUNC one step short before two)
    # a peer: the names of the concepts its statements are about (their subjects), which decide whether it
    # is really about something else than the question
    about: tuple[str, ...] = ()
