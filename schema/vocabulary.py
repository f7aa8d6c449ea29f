"""The controlled vocabulary of L2 relation types (docs/method.md).

Each type declares its inverse or contrary, which the INVREL distractor operator uses, and a few
synonyms so that a model's free-form label maps to the nearest declared type. A label that maps to
nothing is never invented silently: :meth:`Vocabulary.require` raises, and extraction quarantines it.
A discipline may extend the vocabulary with its own types (:meth:`Vocabulary.extend`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from proda.errors import ConfigError, UnknownRelationType

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


class RelationType(BaseModel):
    """One relation type: ``subject <name> object``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_TYPE_NAME.pattern, description="snake_case type name")
    inverse: str | None = Field(default=None, description="inverse or contrary type, used by INVREL")
    symmetric: bool = Field(default=False, description="a R b implies b R a")
    restates: bool = Field(default=False, description="the object says again what the subject is (a "
                           "definition): both ends denote one thing, so neither may stand as a wrong answer "
                           "where the other is the right one")
    near: tuple[str, ...] = Field(default=(), description="types a reader may take for this one ('prevents' for "
                                  "'decreases'): a concept that the step before the answer reaches by one of them "
                                  "reads as a right answer too, so it is never a distractor")
    carries_over: tuple[str, ...] = Field(default=(), description="types T for which 'a <this> b' and 'b T c' "
                                          "imply 'a <this> c' (a kind of a kind is a kind): a concept so reached "
                                          "from the right answer is a right answer too")
    phrase: str = Field(description="verb phrase for templated text: 'X <phrase> Y'")
    synonyms: tuple[str, ...] = Field(default=(), description="labels that map to this type")
    discipline: str | None = Field(default=None, description="None: shared by every discipline")


_DEFAULT_TYPES: tuple[RelationType, ...] = (
    # near: what a reader takes for the type ("small businesses facilitate recovery" answers "small businesses
    # cause X1"; "laws that prevent movement" answers "laws decrease X1"); never a type's own inverse
    RelationType(name="causes", inverse="prevents", phrase="causes", near=("increases", "enables"),
                 synonyms=("leads_to", "results_in", "produces", "triggers", "brings_about")),
    RelationType(name="prevents", inverse="causes", phrase="prevents", near=("decreases",),
                 synonyms=("inhibits", "blocks", "stops", "averts")),
    RelationType(name="increases", inverse="decreases", phrase="increases", near=("causes",),
                 synonyms=("raises", "boosts", "enhances", "promotes", "positively_affects")),
    RelationType(name="decreases", inverse="increases", phrase="decreases", near=("prevents",),
                 synonyms=("reduces", "lowers", "diminishes", "negatively_affects")),
    # a kind of a kind, or of an example of something, is a kind of it; a part of a kind of thing is a part of
    # that thing; an example of a kind of thing is an example of it
    RelationType(name="is_a", phrase="is a kind of", carries_over=("is_a", "example_of"),
                 near=("example_of", "defined_as"),
                 synonyms=("type_of", "kind_of", "instance_of", "subclass_of", "isa")),
    RelationType(name="part_of", inverse="has_part", phrase="is part of",
                 carries_over=("part_of", "is_a", "example_of"),
                 synonyms=("component_of", "belongs_to", "member_of")),
    RelationType(name="has_part", inverse="part_of", phrase="has as a part", carries_over=("has_part",),
                 synonyms=("contains", "includes", "consists_of", "comprises")),
    RelationType(name="requires", inverse="enables", phrase="requires",
                 synonyms=("needs", "depends_on", "relies_on")),
    RelationType(name="enables", inverse="requires", phrase="enables", near=("causes", "used_for"),
                 synonyms=("allows", "makes_possible", "permits", "facilitates")),
    RelationType(name="precedes", inverse="follows", phrase="precedes", carries_over=("precedes",),
                 synonyms=("before", "comes_before", "leads_into")),
    RelationType(name="follows", inverse="precedes", phrase="follows", carries_over=("follows",),
                 synonyms=("after", "comes_after", "succeeds")),
    RelationType(name="defined_as", phrase="is defined as", restates=True, near=("is_a",),
                 synonyms=("means", "is_defined_as", "definition")),
    RelationType(name="example_of", phrase="is an example of", carries_over=("is_a", "example_of"), near=("is_a",),
                 synonyms=("exemplifies", "instance")),
    RelationType(name="contrasts_with", inverse="contrasts_with", symmetric=True, phrase="contrasts with",
                 synonyms=("differs_from", "opposite_of", "versus")),
    RelationType(name="measured_by", phrase="is measured by", synonyms=("quantified_by", "measured_with")),
    RelationType(name="used_for", phrase="is used for", near=("enables",),
                 synonyms=("used_to", "serves_to", "purpose")),
)


def _label_key(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.strip().casefold()).strip("_")


class Vocabulary:
    """A set of relation types with their inverses; lookups by name or synonym."""

    def __init__(self, types: Iterable[RelationType]) -> None:
        self._types: dict[str, RelationType] = {}
        self._labels: dict[str, str] = {}
        self.extend(types)

    def extend(self, types: Iterable[RelationType]) -> None:
        """Add types; raises :class:`ConfigError` on a name clash or a dangling inverse."""
        new = list(types)
        for t in new:
            if t.name in self._types and self._types[t.name] != t:
                raise ConfigError(f"relation type {t.name!r} is declared twice with different definitions")
            self._types[t.name] = t
        for t in new:
            if t.inverse is not None and t.inverse not in self._types:
                raise ConfigError(f"relation type {t.name!r} names inverse {t.inverse!r}, which is not declared")
            for carried in t.carries_over:
                if carried not in self._types:
                    raise ConfigError(f"relation type {t.name!r} carries over {carried!r}, which is not declared")
            for near in t.near:
                if near not in self._types:
                    raise ConfigError(f"relation type {t.name!r} names near type {near!r}, which is not declared")
                if near == t.inverse:
                    # INVREL's distractors are reached by the inverse: as a near type it would refuse them all
                    raise ConfigError(f"relation type {t.name!r} names its own inverse {near!r} as a near type")
            self._labels[t.name] = t.name
            for s in t.synonyms:
                self._labels.setdefault(_label_key(s), t.name)

    @classmethod
    def from_yaml(cls, path: Path, base: Vocabulary | None = None) -> Vocabulary:
        """Load extra types from a YAML list of RelationType mappings, on top of ``base``."""
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: cannot read vocabulary: {e}") from e
        if not isinstance(raw, list):
            raise ConfigError(f"{path}: expected a YAML list of relation types")
        vocab = cls(base.types() if base else ())
        try:
            vocab.extend(RelationType.model_validate(item) for item in raw)
        except ValueError as e:
            raise ConfigError(f"{path}: invalid relation type: {e}") from e
        return vocab

    def types(self) -> list[RelationType]:
        """All declared types, in declaration order."""
        return list(self._types.values())

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def get(self, name: str) -> RelationType:
        """The type named exactly ``name``; raises :class:`UnknownRelationType`."""
        try:
            return self._types[name]
        except KeyError:
            raise UnknownRelationType(
                f"unknown relation type {name!r}; declared: {', '.join(sorted(self._types))}"
            ) from None

    def resolve(self, label: str) -> str | None:
        """Map a free-form label (name or synonym, any case/spacing) to a declared type, or None."""
        return self._labels.get(_label_key(label))

    def require(self, label: str) -> str:
        """Like :meth:`resolve` but raises :class:`UnknownRelationType` when nothing matches."""
        name = self.resolve(label)
        if name is None:
            raise UnknownRelationType(
                f"unknown relation type {label!r}; declared: {', '.join(sorted(self._types))}"
            )
        return name

    def inverse(self, name: str) -> str | None:
        """The inverse/contrary of a declared type, or None when it has none."""
        return self.get(name).inverse

    def carried_over(self, name: str) -> tuple[str, ...]:
        """The types through which a statement of type ``name`` carries over to further concepts
        (:attr:`RelationType.carries_over`); empty for an undeclared type."""
        t = self._types.get(name)
        return t.carries_over if t is not None else ()

    def near(self, name: str) -> tuple[str, ...]:
        """The types a reader may take for ``name`` (:attr:`RelationType.near`); empty for an undeclared type."""
        t = self._types.get(name)
        return t.near if t is not None else ()

    def restating(self) -> list[str]:
        """The types whose two ends denote one thing (:attr:`RelationType.restates`), in declaration order."""
        return [t.name for t in self._types.values() if t.restates]


def default_vocabulary() -> Vocabulary:
    """The starting vocabulary from docs/method.md."""
    return Vocabulary(_DEFAULT_TYPES)
