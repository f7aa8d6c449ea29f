"""Configurations of the refine jobs: one dataclass each for Python, the CLI and YAML recipes (TRL style).

``RefineConfig`` is ``proda refine run`` (the batch stage); ``DistillConfig`` is ``proda refine
distill`` (expert refinement + distillation into training data). Every field has help; defaults <
recipe < flags; unknown recipe keys fail with their names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proda.errors import ConfigError
from proda.pipelines.shards import check_executor, executor_field
from proda.recipes import FromRecipe

FAVOURS = ("recall", "balanced", "precision")
"""trafilatura's three operating points: ``favor_recall``, its default, ``favor_precision``."""


def check_favour(value: str, *, what: str = "trafilatura operating point", empty: str | None = None) -> str:
    """``value`` when it is one of :data:`FAVOURS`; where ``empty`` says what no point means, "" or
    ``none`` (how a command line says it) gives "". Raises ConfigError naming ``what`` and the choices
    otherwise."""
    if value in FAVOURS:
        return value
    if empty is not None and value in ("", "none"):
        return ""
    tail = f", or none for {empty}" if empty is not None else ""
    raise ConfigError(f"unknown {what} {value!r}: use one of {', '.join(FAVOURS)}{tail}")


PROGRAM_SOURCES = ("model", "server", "classifier", "trafilatura", "keep")
EXPERT_BACKENDS = ("anthropic", "openai")
EXPERTS = ("llm", "trafilatura")


@dataclass
class RefineConfig(FromRecipe):
    """What ``proda refine run`` does. Every field has help; defaults < recipe < flags."""

    source: str = field(default="model", metadata={
        "help": "where programs come from: model (a local transformers refine model, --model PATH), server (an "
                "OpenAI-compatible server such as `vllm serve PATH`, --base-url), classifier (a line classifier "
                "folder from `proda refine train-classifier`, --model PATH), trafilatura (the main-content "
                "expert alone on each page's HTML, no model: text without HTML is kept) or keep (keep_doc() for "
                "every document: a dry run of the plumbing)"})
    model: str | None = field(default=None, metadata={
        "help": "refine model: a folder written by `proda refine train` (source=model) or the served model name "
                "(source=server)"})
    base_url: str | None = field(default=None, metadata={
        "help": "OpenAI-compatible server URL, e.g. http://localhost:8000/v1 for `vllm serve`"})
    shards: int = field(default=1, metadata={
        "help": "split each input file into this many shards (by line number); a shard is the unit of resume "
                "and of parallelism"})
    executor: str = executor_field("one task per shard")
    batch_size: int = field(default=8, metadata={"help": "documents per model call and per output flush"})
    max_window_chars: int = field(default=2000, metadata={
        "help": "characters of line-numbered text the model reads per window (a document is cut into windows)"})
    max_line_chars: int = field(default=200, metadata={
        "help": "longer lines are shown to the model as head and tail only"})
    max_new_tokens: int = field(default=256, metadata={"help": "program tokens the model may write per window"})
    run_name: str | None = field(default=None, metadata={
        "help": "run directory name under $PRODA_HOME/runs/refine (default: from the output file name)"})
    trafilatura_favour: str = field(default="balanced", metadata={
        "help": "source=trafilatura: its operating point, recall, balanced (its default) or precision"})

    def __post_init__(self) -> None:
        check_favour(self.trafilatura_favour)
        if self.source not in PROGRAM_SOURCES:
            raise ConfigError(f"unknown program source {self.source!r}: use one of {', '.join(PROGRAM_SOURCES)}")
        if self.source == "model" and not self.model:
            raise ConfigError("source=model needs --model: a folder written by `proda refine train`")
        if self.source == "classifier" and not self.model:
            raise ConfigError("source=classifier needs --model: a folder written by `proda refine train-classifier`")
        if self.source == "server" and not (self.model and self.base_url):
            raise ConfigError("source=server needs --model (the served model name) and --base-url "
                              "(e.g. http://localhost:8000/v1)")
        if self.shards < 1 or self.batch_size < 1 or self.max_new_tokens < 1:
            raise ConfigError("shards, batch_size and max_new_tokens must be at least 1")
        check_executor(self.executor)
        if self.max_line_chars < 20 or self.max_window_chars < self.max_line_chars:
            raise ConfigError("need max_line_chars >= 20 and max_window_chars >= max_line_chars")

@dataclass
class DistillConfig(FromRecipe):
    """What ``proda refine distill`` does. Every field has help; defaults < recipe < flags."""

    expert: str = field(default="llm", metadata={
        "help": "who refines records without a 'refined' field: llm (the --backend model, on the text) or "
                "trafilatura (main-content extraction on the record's 'html' at the --trafilatura-favour point, "
                "projected onto the "
                "page's lines)"})
    trafilatura_favour: str = field(default="recall", metadata={
        "help": "the trafilatura expert's operating point: recall (keeps more of a page), balanced (its default) "
                "or precision"})
    backend: str | None = field(default=None, metadata={
        "help": "expert LLM backend for records without a 'refined' field: anthropic or openai (any "
                "OpenAI-compatible server, e.g. vLLM); not needed when every record brings its refinement"})
    model: str | None = field(default=None, metadata={"help": "expert model name"})
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible server URL for the expert"})
    max_insert_ratio: float = field(default=0.05, metadata={
        "help": "reliability filter: discard a pair when more than this share of the refined text (non-space "
                "characters) would have to be inserted"})
    max_unexpressible_ratio: float = field(default=0.05, metadata={
        "help": "reliability filter: discard a pair when the expert deleted more than this share of the raw text "
                "in ways the program language cannot state"})
    max_cost: float | None = field(default=None, metadata={"help": "stop before spending more USD than this"})
    max_tokens: int | None = field(default=None, metadata={"help": "stop before using more tokens than this"})
    max_output_tokens: int = field(default=8192, metadata={"help": "output token cap per expert call"})
    requests_per_minute: int | None = field(default=None, metadata={"help": "expert request rate limit"})
    tokens_per_minute: int | None = field(default=None, metadata={"help": "expert token rate limit"})
    max_window_chars: int = field(default=2000, metadata={"help": "training windows: as for `proda refine run`"})
    max_line_chars: int = field(default=200, metadata={"help": "training windows: as for `proda refine run`"})

    def __post_init__(self) -> None:
        if self.expert not in EXPERTS:
            raise ConfigError(f"unknown expert {self.expert!r}: use llm or trafilatura")
        check_favour(self.trafilatura_favour)
        if self.backend is not None and self.backend not in EXPERT_BACKENDS:
            raise ConfigError(f"unknown expert backend {self.backend!r}: use anthropic or openai")
        if not 0 <= self.max_insert_ratio <= 1 or not 0 <= self.max_unexpressible_ratio <= 1:
            raise ConfigError("the reliability thresholds are shares between 0 and 1")

