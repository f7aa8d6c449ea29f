"""Build the backend a command line or recipe names, with keys and URLs from the environment.

Environment (secrets come only from here):

* ``anthropic``: ``ANTHROPIC_API_KEY`` (or ``PRODA_ANTHROPIC_API_KEY``); model default
  ``$PRODA_ANTHROPIC_MODEL`` or :data:`DEFAULT_ANTHROPIC_MODEL`.
* ``openai``: ``base_url`` or ``$PRODA_OPENAI_BASE_URL`` (a vLLM server is
  ``http://localhost:8000/v1``; unset means the OpenAI platform), ``OPENAI_API_KEY`` (or
  ``PRODA_OPENAI_API_KEY``; a self-hosted server may need none), model ``$PRODA_OPENAI_MODEL``
  when not given, ``$PRODA_OPENAI_GUIDED`` (json_schema, vllm or none) for how JSON is enforced.
"""

from __future__ import annotations

import os
from typing import Literal

from proda.errors import ConfigError
from proda.pipelines.llm.base import LLMBackend
from proda.pipelines.llm.openai_backend import Guided

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-6"
GUIDED_MODES: tuple[Guided, ...] = ("json_schema", "vllm", "none")


def make_backend(name: Literal["anthropic", "openai"], model: str | None, base_url: str | None, *,
                 timeout_s: float = 60.0, guided: Guided | None = None) -> LLMBackend:
    """The backend called ``name``, configured from the arguments and the environment.

    Returns an :class:`~proda.pipelines.llm.base.LLMBackend`. Raises
    :class:`~proda.errors.ConfigError` saying what to set when a key, model or URL is missing or
    the name is unknown, and :class:`~proda.errors.DependencyMissing` when the SDK is not installed.
    """
    if name == "anthropic":
        from proda.pipelines.llm.anthropic_backend import AnthropicBackend

        model = model or os.environ.get("PRODA_ANTHROPIC_MODEL") or DEFAULT_ANTHROPIC_MODEL
        return AnthropicBackend(model, base_url=base_url, timeout_s=timeout_s)
    if name == "openai":
        from proda.pipelines.llm.openai_backend import OpenAICompatibleBackend

        base_url = base_url or os.environ.get("PRODA_OPENAI_BASE_URL") or None
        model = model or os.environ.get("PRODA_OPENAI_MODEL")
        if not model:
            raise ConfigError("the openai backend needs a model: pass --model or set PRODA_OPENAI_MODEL (for vLLM, "
                              "the model name `vllm serve` was started with, as listed by GET /v1/models)")
        if guided is None:
            mode = os.environ.get("PRODA_OPENAI_GUIDED", "json_schema")
            if mode not in GUIDED_MODES:
                raise ConfigError(f"PRODA_OPENAI_GUIDED={mode!r}: use one of {', '.join(GUIDED_MODES)}")
            guided = mode
        return OpenAICompatibleBackend(model, base_url=base_url, timeout_s=timeout_s, guided=guided)
    raise ConfigError(f"unknown LLM backend {name!r}: use anthropic or openai")
