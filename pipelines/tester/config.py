"""The benchmark job's configuration: one dataclass for Python, the CLI and YAML recipes (TRL style)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from proda.errors import ConfigError
from proda.pipelines.llm.paraphrase import HELP as PARAPHRASE_HELP
from proda.pipelines.llm.paraphrase import validate_settings
from proda.pipelines.shards import check_executor, executor_field
from proda.recipes import FromRecipe

SPLITS = ("test", "dev", "train")
BATCH_STRATEGIES = ("overlapped", "serial")
MAX_STEPS = 6  # the hop patterns of bench_invrel / bench_reach are written out for 1..6 steps
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


@dataclass
class BenchConfig(FromRecipe):
    """What ``proda bench build`` does. Every field has help; defaults < recipe < flags."""

    name: str = field(default="proda", metadata={
        "help": "benchmark name: items are (:BenchmarkItem {benchmark: name}) and their ids derive from it, so "
                "two names are two benchmarks and rebuilding one name updates its items in place"})
    discipline: str | None = field(default=None, metadata={"help": "only this discipline (default: all)"})
    per_discipline: int | None = field(default=None, metadata={
        "help": "items per discipline (default: one per usable held-out chain); chains are taken in a seeded "
                "order, so the same seed picks the same chains"})
    seed: int = field(default=0, metadata={"help": "seed for the chain order and the option shuffle"})
    test_ratio: float = field(default=0.1, metadata={"help": "share of chains split to test"})
    dev_ratio: float = field(default=0.1, metadata={"help": "share of chains split to dev (the rest is train)"})
    split_salt: str = field(default="proda-split-v1", metadata={
        "help": "salt of the chain-id hash that draws splits; changing it only affects chains not split yet"})
    splits: tuple[str, ...] = field(default=("test", "dev"), metadata={
        "help": "held-out splits to build items from (test and/or dev; never train)"})
    distractors: int = field(default=3, metadata={"help": "distractors per item (options = distractors + 1)"})
    max_steps: int = field(default=MAX_STEPS, metadata={
        "help": f"longest chain used, in relation steps (at most {MAX_STEPS}); longer ones are skipped"})
    peers: bool = field(default=True, metadata={
        "help": "also offer NEARMISS peers: concepts in the answer's role in other statements of its document "
                "(the objects of the last step's type there). They fill chains whose neighbourhood is too sparse "
                "for three distractors (on the shared corpus 2.7 times the items); in the README's audits a "
                "reader took a distractor for right in about as many items with a peer as without (11.5 % "
                "against 9.8 %); false: structural near misses only"})
    candidates_per_row: int = field(default=5, metadata={
        "help": "most candidates a distractor query returns per chain, step and kind (every returned row costs "
                "client-side parsing; a few per kind leave enough after the validity proof and the refusals "
                "of definitions of the answer or the start)"})
    batch_size: int = field(default=1000, metadata={"help": "chains per round trip of each batched query"})
    batch_strategy: str = field(default="overlapped", metadata={
        "help": "overlapped: while a batch's items are chosen and written, the next batch's chains, distractors "
                "and proof are read on a second connection, and TRUNC takes the stops from the chain as already "
                "read; serial: one round trip after another, TRUNC read by its own query (the earlier path, kept "
                "to measure against). Both build the same items"})
    executor: str = executor_field("one shard per discipline")
    paraphrase_backend: str | None = field(default=None, metadata={
        "help": PARAPHRASE_HELP["paraphrase_backend"] + ". Only the question stem is reworded, never the options "
                "or the answer; the answer, options and hidden chain concepts may not appear in it, the start "
                "concept must. qa_hash is computed over the final question"})
    paraphrase_model: str | None = field(default=None, metadata={"help": PARAPHRASE_HELP["paraphrase_model"]})
    paraphrase_base_url: str | None = field(default=None, metadata={"help": PARAPHRASE_HELP["paraphrase_base_url"]})
    paraphrase_max_cost: float | None = field(default=None, metadata={
        "help": PARAPHRASE_HELP["paraphrase_max_cost"] + " (under ray: per discipline shard)"})

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"benchmark name {self.name!r}: use lower-case letters, digits and '_', "
                              "starting with a letter")
        if self.per_discipline is not None and self.per_discipline < 1:
            raise ConfigError("per_discipline must be at least 1 (leave it unset for every usable chain)")
        if not 0 < self.test_ratio < 1 or not 0 <= self.dev_ratio < 1 or self.test_ratio + self.dev_ratio >= 1:
            raise ConfigError(f"split ratios test={self.test_ratio}, dev={self.dev_ratio}: need 0 < test, "
                              "0 <= dev and test + dev < 1 (the rest is train)")
        self.splits = tuple(self.splits)
        bad = [s for s in self.splits if s not in ("test", "dev")]
        if bad or not self.splits:
            raise ConfigError(f"splits {list(self.splits)}: a benchmark is built from test and/or dev chains only")
        if self.distractors < 1:
            raise ConfigError("distractors must be at least 1")
        if not 1 <= self.max_steps <= MAX_STEPS:
            raise ConfigError(f"max_steps must be between 1 and {MAX_STEPS}")
        if self.batch_strategy not in BATCH_STRATEGIES:
            raise ConfigError(f"batch_strategy {self.batch_strategy!r}: use one of {', '.join(BATCH_STRATEGIES)}")
        if self.candidates_per_row < 1 or self.batch_size < 1:
            raise ConfigError("candidates_per_row and batch_size must be at least 1")
        check_executor(self.executor)
        validate_settings(self)

    @property
    def split_rule(self) -> str:
        """How splits are drawn, recorded on each chain the rule assigned."""
        return f"hash-v1:{self.split_salt}:test={self.test_ratio:g},dev={self.dev_ratio:g}"

    @classmethod
    def _prepare(cls, values: dict[str, Any], source: str) -> dict[str, Any]:
        """``splits`` may be written ``test,dev`` (a flag) as well as a list."""
        if isinstance(values.get("splits"), str):
            values = {**values, "splits": tuple(s.strip() for s in values["splits"].split(",") if s.strip())}
        elif "splits" in values and not isinstance(values["splits"], list | tuple):
            raise ConfigError(f"{source}: splits must be a list such as [test, dev]")
        return values
