"""The extraction job's configuration: one dataclass for Python, the CLI and YAML recipes (TRL style)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from proda.errors import ConfigError
from proda.recipes import FromRecipe

BACKENDS = ("heuristic", "anthropic", "openai")


@dataclass
class ExtractConfig(FromRecipe):
    """What ``proda extract`` does. Every field has help; defaults < recipe < flags."""

    backend: str = field(default="heuristic", metadata={
        "help": "heuristic (offline rule baseline, the default), anthropic, or openai (any OpenAI-compatible "
                "server, e.g. vLLM)"})
    model: str | None = field(default=None, metadata={"help": "model name for anthropic/openai backends"})
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible server URL, e.g. "
                                                                 "http://localhost:8000/v1 for `vllm serve`"})
    discipline: str | None = field(default=None, metadata={"help": "only this discipline (default: all)"})
    max_cost: float | None = field(default=None, metadata={"help": "stop before spending more USD than this"})
    max_tokens: int | None = field(default=None, metadata={"help": "stop before using more tokens than this"})
    max_output_tokens: int = field(default=2048, metadata={"help": "output token cap per LLM call"})
    requests_per_minute: int | None = field(default=None, metadata={"help": "LLM request rate limit"})
    tokens_per_minute: int | None = field(default=None, metadata={"help": "LLM token rate limit"})
    executor: str = field(default="local", metadata={"help": "local (this process) or ray"})
    batch_size: int = field(default=100, metadata={"help": "chunks per graph write batch"})
    run_name: str | None = field(default=None, metadata={"help": "run directory name under "
                                                                 "$PRODA_HOME/runs/extract (default: the "
                                                                 "extractor key)"})

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}: use one of {', '.join(BACKENDS)}")
        # model and base URL may also come from the environment (PRODA_ANTHROPIC_MODEL,
        # PRODA_OPENAI_MODEL, PRODA_OPENAI_BASE_URL): the backend factory checks them with the
        # environment in view and says what to set.
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1")

def default_backend(environ: Mapping[str, str] | None = None) -> str:
    """The backend when none is named: an OpenAI-compatible server when its URL is configured, else
    Anthropic when a key is, else the offline heuristic (so demos and CI never need a key)."""
    env = os.environ if environ is None else environ
    if env.get("PRODA_OPENAI_BASE_URL"):
        return "openai"
    if env.get("ANTHROPIC_API_KEY") or env.get("PRODA_ANTHROPIC_API_KEY"):
        return "anthropic"
    return "heuristic"
