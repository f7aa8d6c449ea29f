"""The Builder job's configuration: one dataclass for Python, the CLI and YAML recipes (TRL style)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from proda.errors import ConfigError
from proda.pipelines.llm.paraphrase import HELP as PARAPHRASE_HELP
from proda.pipelines.llm.paraphrase import validate_settings
from proda.recipes import FromRecipe

FAMILIES = ("definition", "statement", "reverse", "recall", "grounded", "question")
# V1's recipe, chosen on dev by benchmarks/v1_recipe.py: the benchmark's own question form, one example per
# relation, beat every mix of the other families at the same budget (the others stay one flag away)
DEFAULT_FAMILIES = ("question",)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


@dataclass
class BuildConfig(FromRecipe):
    """What ``proda build`` does. Every field has help; defaults < recipe < flags."""

    dataset: str = field(default="v1", metadata={
        "help": "dataset name: examples are (:TrainingExample {dataset: name}); rebuilding a name is a no-op for "
                "what it already holds and adds what new relations allow"})
    discipline: str | None = field(default=None, metadata={"help": "only this discipline (default: all)"})
    budget: int | None = field(default=None, metadata={
        "help": "most examples per discipline (default: all the templates give); relations are taken in a "
                "seeded order, so a budget samples evenly across the discipline"})
    seed: int = field(default=0, metadata={"help": "seed for the relation order and the template choice"})
    families: tuple[str, ...] = field(default=DEFAULT_FAMILIES, metadata={
        "help": "example families (default: question, the recipe chosen on dev): definition (what is X?, from "
                "is_a and defined_as), statement (X r Y), "
                "reverse (asked from the object's side), recall (which concept does X r?, multiple choice), "
                "grounded (a passage from the chunk, the relation asked and answered with the evidence quoted), "
                "question (the benchmark's wording of a one-step chain, answered with the concept's name)"})
    context_chars: int = field(default=700, metadata={
        "help": "longest passage quoted from the chunk in grounded examples (cut at sentence boundaries)"})
    page_size: int = field(default=1000, metadata={
        "help": "subject concepts read per round trip, each with all its relations"})
    paraphrase_backend: str | None = field(default=None, metadata={
        "help": PARAPHRASE_HELP["paraphrase_backend"] + ". The question is reworded (never a grounded passage or "
                "a recall option list); the fact's concept names must be kept and the answer may not be named"})
    paraphrase_model: str | None = field(default=None, metadata={"help": PARAPHRASE_HELP["paraphrase_model"]})
    paraphrase_base_url: str | None = field(default=None, metadata={"help": PARAPHRASE_HELP["paraphrase_base_url"]})
    paraphrase_max_cost: float | None = field(default=None, metadata={"help": PARAPHRASE_HELP["paraphrase_max_cost"]})
    paraphrase_answers: bool = field(default=False, metadata={
        "help": "with a paraphrase backend, also reword the answer's statement of the fact (its concept names "
                "kept verbatim; a grounded example's quoted evidence is never reworded)"})

    def __post_init__(self) -> None:
        if not _NAME.match(self.dataset):
            raise ConfigError(f"dataset {self.dataset!r}: use lower-case letters, digits and _ (max 48)")
        unknown = sorted(set(self.families) - set(FAMILIES))
        if unknown or not self.families:
            raise ConfigError(f"families {list(self.families)}: choose from {', '.join(FAMILIES)}")
        if self.budget is not None and self.budget < 1:
            raise ConfigError("budget must be at least 1")
        if self.context_chars < 100:
            raise ConfigError("context_chars must be at least 100")
        if self.page_size < 1:
            raise ConfigError("page_size must be at least 1")
        validate_settings(self)

