"""The Debugger job's configuration: one dataclass for Python, the CLI and YAML recipes (TRL style)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from proda.errors import ConfigError
from proda.pipelines.shards import check_executor, executor_field
from proda.recipes import FromRecipe

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


PATCH_STYLES = ("answer", "explain")


@dataclass
class PatchConfig(FromRecipe):
    """What ``proda patch`` does: diagnose an evaluation run's failures, then write patch sets.

    Every field has help; defaults < recipe < flags.
    """

    run: str = field(default="", metadata={
        "help": "the evaluation run to repair: its id (evr_...) or its name (proda eval --run-name)"})
    discipline: str | None = field(default=None, metadata={
        "help": "only this discipline (default: every discipline the run answered, one shard each)"})
    patch_set: str = field(default="v2", metadata={
        "help": "patch set name: patches are (:Patch {patch_set: name}); one complete set per discipline, "
                "so a rerun skips the disciplines already done"})
    budget: int = field(default=1000, metadata={
        "help": "examples per discipline in the patch set, replay included; the targeted part is split "
                "between f_refine and f_cot by the counts of concept gaps and reasoning deficits"})
    replay_ratio: float = field(default=0.3, metadata={
        "help": "share of the patch set that is replay sampled from the V1 Builder dataset (limits forgetting); "
                "0 for none"})
    replay_dataset: str = field(default="v1", metadata={
        "help": "the Builder dataset replay is sampled from (proda build --dataset)"})
    seed: int = field(default=0, metadata={
        "help": "seed of the probe distractors, the option order, the template choice and the replay sample"})
    model: str | None = field(default=None, metadata={
        "help": "model that answers the probes (default: the run's model, as the diagnosis must measure the "
                "model that failed)"})
    batch_size: int = field(default=8, metadata={"help": "probes scored per forward pass"})
    distractors: int = field(default=3, metadata={
        "help": "distractors per probe (options = distractors + 1, as in the benchmark)"})
    pool_size: int = field(default=200, metadata={
        "help": "distractor candidates read per relation type and discipline"})
    cot_chains: int = field(default=4, metadata={
        "help": "most train chains f_cot scaffolds per reasoning deficit (ranked by shared concepts, then "
                "shared relation types)"})
    min_cot_steps: int = field(default=2, metadata={
        "help": "shortest train chain (in relation steps) worth a chain-of-thought scaffold"})
    concept_facts: int = field(default=4, metadata={
        "help": "most relations per weak concept and direction that f_refine's concept summaries state"})
    context_chars: int = field(default=700, metadata={
        "help": "longest passage quoted from a chunk in grounded f_refine examples"})
    style: str = field(default="explain", metadata={
        "help": "explain (default): passages, statements and step-by-step walks; answer: each diagnosis's "
                "patches lead with its hop or chain asked as the benchmark asks and answered with the concept's "
                "name, then the same (chosen on dev: the two scored within noise, explain a little higher)"})
    rediagnose: bool = field(default=False, metadata={
        "help": "probe again items already diagnosed for this run (default: reuse stored diagnoses)"})
    force: bool = field(default=False, metadata={
        "help": "replace a complete patch set (default: skip a discipline whose set is complete; fail when it "
                "was made from another configuration)"})
    executor: str = executor_field("one shard per discipline")

    def __post_init__(self) -> None:
        if not self.run:
            raise ConfigError("give the evaluation run to repair (--run ID or NAME)")
        if not _NAME.match(self.patch_set):
            raise ConfigError(f"patch set {self.patch_set!r}: use lower-case letters, digits and _ (max 48), "
                              "starting with a letter")
        if self.budget < 1:
            raise ConfigError(f"budget {self.budget}: a patch set needs at least 1 example")
        if not 0 <= self.replay_ratio < 1:
            raise ConfigError(f"replay_ratio {self.replay_ratio}: use 0 <= ratio < 1 (the rest are patches)")
        if self.distractors < 1 or self.batch_size < 1 or self.pool_size < self.distractors:
            raise ConfigError("distractors and batch_size must be at least 1, pool_size at least distractors")
        if self.cot_chains < 1 or self.min_cot_steps < 1 or self.concept_facts < 1:
            raise ConfigError("cot_chains, min_cot_steps and concept_facts must be at least 1")
        if self.context_chars < 100:
            raise ConfigError("context_chars must be at least 100")
        if self.style not in PATCH_STYLES:
            raise ConfigError(f"style {self.style!r}: use {' or '.join(PATCH_STYLES)}")
        check_executor(self.executor)

    def fingerprint_fields(self) -> dict[str, Any]:
        """The settings that decide a patch set's content (a set made with others is not 'the same set')."""
        return {"budget": self.budget, "replay_ratio": self.replay_ratio, "replay_dataset": self.replay_dataset,
                "seed": self.seed, "distractors": self.distractors, "cot_chains": self.cot_chains,
                "min_cot_steps": self.min_cot_steps, "concept_facts": self.concept_facts,
                "context_chars": self.context_chars,
                # only when not the default, so sets written before the field existed keep their fingerprint
                **({"style": self.style} if self.style != "explain" else {})}
