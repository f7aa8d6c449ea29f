"""Evaluation: a model answers a stored benchmark; every answer is stored on the graph.

Two modes. ``loglikelihood`` (local models through transformers) scores each option as
lm-evaluation-harness does and reports ``acc`` and ``acc_norm``. ``generate`` (API or served models
through the extraction backends: Anthropic, OpenAI-compatible/vLLM) asks with lettered options,
parses the answer robustly and counts unparseable answers apart from wrong ones.

Results: ``(:EvalRun)-[:ANSWERED {chosen, correct, chosen_operator, scores, ...}]->(:BenchmarkItem)``
for every item, so which distractor (INVREL, TRUNC, NEARMISS) fooled the model is a query away
(``eval_summary``; the Debugger's raw material). A run id is derived from its name, so rerunning an
interrupted evaluation answers only the items still missing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from proda.config import LLMSettings
from proda.errors import ConfigError, InputError, NotFound
from proda.pipelines.tester.model import BenchmarkItemRecord
from proda.recipes import FromRecipe
from proda.schema.store.base import GraphStore
from proda.training.scoring import (
    SCORING_MODES,
    LoglikelihoodScorer,
    OptionScores,
    lettered_prompt,
    parse_answer,
    score_items,
)

MODES = ("loglikelihood", "generate")
ProgressFn = Callable[[int, int], None]
"""Called with (items answered, items in all)."""


@dataclass
class EvalConfig(FromRecipe):
    """What ``proda eval`` does. Every field has help; defaults < recipe < flags."""

    model: str = field(default="smollm2-135m-instruct", metadata={
        "help": "local model folder or 'smollm2-135m-instruct' (loglikelihood mode); the model name of the API "
                "or server (generate mode)"})
    benchmark: str = field(default="proda", metadata={"help": "benchmark name (proda bench build --name)"})
    split: str = field(default="test", metadata={"help": "test or dev"})
    mode: str = field(default="loglikelihood", metadata={
        "help": "loglikelihood (local transformers model, lm-eval's acc/acc_norm) or generate (lettered options "
                "to an API/served model, answers parsed)"})
    backend: str | None = field(default=None, metadata={"help": "generate mode: anthropic or openai"})
    base_url: str | None = field(default=None, metadata={"help": "generate mode: OpenAI-compatible server URL"})
    discipline: str | None = field(default=None, metadata={"help": "only this discipline's items"})
    limit: int | None = field(default=None, metadata={"help": "at most this many items (in id order)"})
    shard: str | None = field(default=None, metadata={
        "help": "K/N: only the items whose id hashes to K of N shards (a fixed split: workers each take a shard, "
                "or one half of dev chooses what the other half measures)"})
    batch_size: int = field(default=8, metadata={
        "help": "loglikelihood mode: items packed into one forward pass (shared_prefix scoring), or options per "
                "forward pass (full scoring)"})
    scoring: str = field(default="shared_prefix", metadata={
        "help": "loglikelihood mode: shared_prefix (each item's context computed once, its options scored as "
                "continuations of it, several items per pass; fast) or full (one sequence per option, context "
                "and all, as lm-eval runs it); both give the same log-likelihoods"})
    max_new_tokens: int = field(default=16, metadata={"help": "generate mode: answer length cap"})
    max_cost: float | None = field(default=None, metadata={"help": "generate mode: stop before spending more USD"})
    timeout_s: float = field(default=60.0, metadata={"help": "generate mode: seconds to wait for one answer"})
    max_attempts: int = field(default=5, metadata={
        "help": "generate mode: attempts per question on timeouts and other transient errors; then the run stops "
                "with the answers so far stored (rerun to resume)"})
    run_name: str | None = field(default=None, metadata={
        "help": "run name (default: model, benchmark, split and mode); the same name resumes the same run"})
    allow_missing_chains: bool = field(default=False, metadata={
        "help": "evaluate items whose chain was deleted since the benchmark was built (their wrong answers "
                "cannot be traced back to the graph; by default such a benchmark is refused)"})

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode {self.mode!r}: use {' or '.join(MODES)}")
        if self.scoring not in SCORING_MODES:
            raise ConfigError(f"scoring {self.scoring!r}: use {' or '.join(SCORING_MODES)}")
        if self.split not in ("test", "dev"):
            raise ConfigError(f"split {self.split!r}: use test or dev (train chains are never benchmarked)")
        if self.mode == "generate" and self.backend not in ("anthropic", "openai"):
            raise ConfigError("generate mode needs --backend anthropic or openai")
        if self.batch_size < 1 or (self.limit is not None and self.limit < 1) or self.max_attempts < 1:
            raise ConfigError("batch_size, limit and max_attempts must be at least 1")
        if self.timeout_s <= 0:
            raise ConfigError(f"timeout_s {self.timeout_s}: must be positive")
        if self.shard is not None:
            self.shard_of()  # raises on a malformed shard

    def shard_of(self) -> tuple[int, int] | None:
        """(K, N) of ``shard``; raises ConfigError unless it reads K/N with 0 <= K < N."""
        if self.shard is None:
            return None
        k, sep, n = self.shard.partition("/")
        if not (sep and k.strip().isdigit() and n.strip().isdigit() and int(k) < int(n)):
            raise ConfigError(f"shard {self.shard!r}: write K/N with 0 <= K < N, e.g. 0/2")
        return int(k), int(n)

    @property
    def name(self) -> str:
        shard = f"-shard{self.shard.replace('/', 'of')}" if self.shard else ""
        return self.run_name or f"{Path(self.model).name}-{self.benchmark}-{self.split}{shard}-{self.mode}"

    @property
    def run_id(self) -> str:
        return "evr_" + hashlib.sha256(self.name.encode()).hexdigest()[:20]


@dataclass
class EvalReport:
    """The run's totals and per-group accuracy."""

    run_id: str
    name: str
    items: int = 0
    answered_now: int = 0
    correct: int = 0
    correct_norm: int | None = None
    unparseable: int = 0
    seconds: float = 0.0
    groups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.items if self.items else 0.0

    @property
    def accuracy_norm(self) -> float | None:
        return None if self.correct_norm is None or not self.items else self.correct_norm / self.items


def item_shard(item_id: str, shards: int) -> int:
    """The shard of ``shards`` an item belongs to: a stable hash of its id, the same on every machine."""
    return int(hashlib.sha256(item_id.encode()).hexdigest()[:12], 16) % shards


def load_items(store: GraphStore, config: EvalConfig) -> list[BenchmarkItemRecord]:
    """The benchmark's items of ``config.split`` (and discipline, and shard), in id order, limited."""
    rows = store.query("bench_items", {"benchmark": config.benchmark, "discipline": config.discipline,
                                       "split": config.split, "id": None})
    shard = config.shard_of()
    if shard is not None:
        rows = [r for r in rows if item_shard(r["id"], shard[1]) == shard[0]]
    if not rows:
        raise NotFound(f"benchmark {config.benchmark!r} has no {config.split} items"
                       + (f" in {config.discipline}" if config.discipline else "")
                       + (f" in shard {config.shard}" if config.shard else "") + "; run `proda bench build`")
    gone = [r["id"] for r in rows if r["linked_chain_id"] is None]
    if gone and not config.allow_missing_chains:
        raise InputError(
            f"benchmark {config.benchmark!r}: {len(gone)} of {len(rows)} {config.split} items test chains that no "
            f"longer exist in the graph ({', '.join(gone[:3])}{', ...' if len(gone) > 3 else ''}), so their answers "
            f"could not be traced back; `proda bench check --name {config.benchmark}` lists them. Rebuild the "
            "benchmark, or pass --allow-missing-chains to evaluate them anyway")
    items = []
    for r in rows:
        try:
            items.append(BenchmarkItemRecord.model_validate_json(r["record"]))
        except ValueError as e:
            raise InputError(f"benchmark item {r['id']}: stored record is invalid: {e}") from e
    return items[: config.limit] if config.limit else items


def _answer_props(item: BenchmarkItemRecord, chosen: int | None, extra: dict[str, Any]) -> dict[str, Any]:
    op = item.options[chosen].operator if chosen is not None else None
    return {"chosen": chosen, "correct": chosen == item.answer_index, "parsed": chosen is not None,
            "chosen_operator": None if op == "ANSWER" else op, "answered_at": datetime.now(UTC).isoformat(),
            **extra}


def evaluate(store: GraphStore, config: EvalConfig, home: Path, *, progress: ProgressFn | None = None,
             scorer: LoglikelihoodScorer | None = None, answer_fn: Callable[[str], str] | None = None,
             llm: LLMSettings | None = None) -> EvalReport:
    """Evaluate and store every answer; returns the report. ``scorer`` / ``answer_fn`` inject a loaded
    model or a client (tests, services); by default they are built from ``config``, a served model
    with the entry point's ``llm`` settings (servers, keys; the environment when None)."""
    started = time.monotonic()
    items = load_items(store, config)
    run_id = config.run_id
    store.query("upsert_eval_run", {"id": run_id, "props": {
        "name": config.name, "model": config.model, "benchmark": config.benchmark, "split": config.split,
        "mode": config.mode, "status": "running", "config": json.dumps(asdict(config)),
        "started_at": datetime.now(UTC).isoformat()}})
    done = {r["item_id"] for r in store.query("eval_answered", {"run_id": run_id})}
    todo = [i for i in items if i.id not in done]
    if config.mode == "loglikelihood" and todo and scorer is None:
        from proda.training.base_model import load_model

        model, tokenizer = load_model(config.model, home)
        scorer = LoglikelihoodScorer(model, tokenizer, batch_size=config.batch_size, mode=config.scoring)
    if config.mode == "generate" and todo and answer_fn is None:
        answer_fn = _generator(config, home, llm)
    rows: list[dict[str, Any]] = []
    answered = len(items) - len(todo)
    if progress is not None:  # a resumed run starts where the last one stopped (a finished one shows done)
        progress(answered, len(items))
    # items are scored a chunk at a time (shared_prefix packs a chunk into one forward pass); answers
    # are still stored and reported item by item
    chunk = config.batch_size if config.mode == "loglikelihood" else 1
    try:
        for start in range(0, len(todo), chunk):
            batch = todo[start:start + chunk]
            scored = _score(scorer, batch) if config.mode == "loglikelihood" else []
            for n, item in enumerate(batch):
                answered = _answer(store, config, run_id, item, scored[n] if scored else None, answer_fn, rows,
                                   answered)
                if progress is not None:
                    progress(answered, len(items))
    finally:
        # a served model that stops answering (or Ctrl-C) ends the run, but what was answered is kept:
        # rerunning the same command resumes after it
        if rows:
            store.query("upsert_eval_answers", {"run_id": run_id, "rows": rows})
    report = summarise(store, run_id, config.name)
    report.answered_now = len(todo)
    report.seconds = time.monotonic() - started
    store.query("upsert_eval_run", {"id": run_id, "props": {
        "status": "finished", "finished_at": datetime.now(UTC).isoformat(), "n": report.items,
        "acc": report.accuracy, "acc_norm": report.accuracy_norm, "unparseable": report.unparseable}})
    return report


def _score(scorer: LoglikelihoodScorer | None, batch: list[BenchmarkItemRecord]) -> list[OptionScores]:
    """The items' option scores (:func:`~proda.training.scoring.score_items`)."""
    assert scorer is not None
    return score_items(scorer, [(i.question, i.choices) for i in batch])


def _answer(store: GraphStore, config: EvalConfig, run_id: str, item: BenchmarkItemRecord, s: OptionScores | None,
            answer_fn: Callable[[str], str] | None, rows: list[dict[str, Any]], answered: int) -> int:
    """Record one item's answer in ``rows`` (flushed to the graph every 50); returns the new answered count."""
    if config.mode == "loglikelihood":
        assert s is not None
        props = _answer_props(item, s.pred, {
            "chosen_norm": s.pred_norm, "correct_norm": s.pred_norm == item.answer_index,
            "scores": json.dumps(s.loglikelihoods), "scores_norm": json.dumps(s.normalised)})
    else:
        assert answer_fn is not None
        raw = answer_fn(lettered_prompt(item.question, item.choices))
        props = _answer_props(item, parse_answer(raw, item.choices), {"raw": raw[:500]})
    rows.append({"item_id": item.id, "props": props})
    if len(rows) >= 50:
        store.query("upsert_eval_answers", {"run_id": run_id, "rows": rows})
        rows.clear()
    return answered + 1


def summarise(store: GraphStore, run_id: str, name: str = "") -> EvalReport:
    """The stored run's totals and per-group accuracy (from the graph, not from memory)."""
    rows = store.query("eval_totals", {"run_id": run_id})
    r = rows[0] if rows else {}
    report = EvalReport(run_id=run_id, name=name, items=int(r.get("items") or 0), correct=int(r.get("correct") or 0),
                        unparseable=int(r.get("unparseable") or 0))
    if int(r.get("has_norm") or 0):
        report.correct_norm = int(r.get("correct_norm") or 0)
    report.groups = [{**g, "accuracy": (g["correct"] / g["items"]) if g["items"] and g["grouping"] != "wrong_operator"
                      else None} for g in store.query("eval_summary", {"run_id": run_id})]
    return report


class MCAnswer(BaseModel):
    """What generate mode asks the model for: its answer as free text (parsed by :func:`parse_answer`)."""

    answer: str = Field(description="the letter of the chosen option, e.g. 'B'")


SYSTEM = "You answer multiple-choice questions. Reply with the letter of the single correct option."


def _generator(config: EvalConfig, home: Path, llm: LLMSettings | None) -> Callable[[str], str]:
    """A prompt-in, answer-out call through the shared LLM plumbing (cache, retries, limits, budget).
    An answer that stays malformed after the client's repair and retry comes back empty, which the
    parser counts as unparseable rather than wrong."""
    from proda.errors import InvalidModelOutput
    from proda.pipelines.llm.cache import ResponseCache
    from proda.pipelines.llm.client import LLMClient
    from proda.pipelines.llm.factory import make_backend
    from proda.pipelines.llm.limits import Budget, RateLimiter

    backend = make_backend(config.backend, config.model, config.base_url,  # type: ignore[arg-type]
                           timeout_s=config.timeout_s, settings=llm)
    client = LLMClient(backend, cache=ResponseCache(home / "cache" / "llm.sqlite"), limiter=RateLimiter(None, None),
                       budget=Budget(config.max_cost, None), prompt_version="eval-mc-v1",
                       max_attempts=config.max_attempts)

    def answer(prompt: str) -> str:
        try:
            out, _ = client.generate(SYSTEM, prompt, MCAnswer, max_tokens=config.max_new_tokens)
        except InvalidModelOutput:
            return ""
        return out.answer

    return answer
