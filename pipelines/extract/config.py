"""The extraction job's configuration: one dataclass for Python, the CLI and YAML recipes (TRL style)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field

from proda.config import LLMSettings
from proda.errors import ConfigError
from proda.pipelines.shards import check_executor, executor_field
from proda.recipes import FromRecipe

BACKENDS = ("heuristic", "dependency", "anthropic", "openai")
OFFLINE_BACKENDS = ("heuristic", "dependency")  # no model server, no key, no network


def offline_backend() -> str:
    """The best offline extractor installed: ``dependency`` (best on the gold set, see
    ``benchmarks/extract_gold.py``) when spaCy and its model package are there, else ``heuristic``."""
    from proda.pipelines.extract.dependency import nlp_available

    return "dependency" if nlp_available() else "heuristic"


@dataclass
class ExtractConfig(FromRecipe):
    """What ``proda extract`` does. Every field has help; defaults < recipe < flags.

    ``llm`` (the entry point's :class:`~proda.config.LLMSettings`, see :meth:`with_llm`) is not a
    field: keys stay out of recipes and of the run's ``config.json``, yet travel with the config to
    the shards. Without it, an LLM backend reads the same variables from the environment.
    """

    backend: str = field(default_factory=offline_backend, metadata={
        "help": "heuristic (offline regex baseline), dependency (offline, spaCy dependency parse; needs the nlp "
                "extra), anthropic, or openai (any OpenAI-compatible server, e.g. vLLM). `proda extract` without "
                "this picks an LLM server or key when configured, else the default: dependency when spaCy and "
                "its model are installed, else heuristic"})
    model: str | None = field(default=None, metadata={"help": "model name for anthropic/openai backends"})
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible server URL, e.g. "
                                                                 "http://localhost:8000/v1 for `vllm serve`"})
    discipline: str | None = field(default=None, metadata={"help": "only this discipline (default: all)"})
    max_cost: float | None = field(default=None, metadata={"help": "stop before spending more USD than this"})
    max_tokens: int | None = field(default=None, metadata={"help": "stop before using more tokens than this"})
    max_output_tokens: int = field(default=2048, metadata={"help": "output token cap per LLM call"})
    requests_per_minute: int | None = field(default=None, metadata={"help": "LLM request rate limit"})
    tokens_per_minute: int | None = field(default=None, metadata={"help": "LLM token rate limit"})
    executor: str = executor_field("one shard per discipline")
    batch_size: int = field(default=100, metadata={"help": "chunks per graph write batch"})
    run_name: str | None = field(default=None, metadata={"help": "run directory name under "
                                                                 "$PRODA_HOME/runs/extract (default: the "
                                                                 "extractor key)"})
    llm: InitVar[LLMSettings | None] = None

    def __post_init__(self, llm: LLMSettings | None) -> None:
        self.llm_settings = llm
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}: use one of {', '.join(BACKENDS)}")
        check_executor(self.executor)
        # model and base URL may also come from the settings (PRODA_ANTHROPIC_MODEL,
        # PRODA_OPENAI_MODEL, PRODA_OPENAI_BASE_URL): the backend factory checks them with the
        # settings in view and says what to set.
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1")

    def with_llm(self, llm: LLMSettings) -> ExtractConfig:
        """This config with the entry point's LLM settings (servers, models, keys)."""
        return dataclasses.replace(self, llm=llm)


def default_backend(settings: LLMSettings | Mapping[str, str]) -> str:
    """The backend when none is named: an OpenAI-compatible server when its URL is configured, else
    Anthropic when a key is, else an offline one (so demos and CI never need a key): ``dependency``
    when spaCy and its model package are installed (the ``nlp`` extra; checked without importing
    them), else the ``heuristic`` baseline.

    ``settings`` are the entry point's LLM settings, or a mapping of environment variables.
    """
    if isinstance(settings, LLMSettings):
        url, key = settings.openai_base_url, settings.anthropic_key()
    else:
        url = settings.get("PRODA_OPENAI_BASE_URL")
        key = settings.get("PRODA_ANTHROPIC_API_KEY") or settings.get("ANTHROPIC_API_KEY")
    if url:
        return "openai"
    if key:
        return "anthropic"
    return offline_backend()
