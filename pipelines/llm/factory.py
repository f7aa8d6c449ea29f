"""Build the backend a command line or recipe names, with keys and URLs from :class:`LLMSettings`.

The entry point reads the settings from the environment (secrets come only from there) and hands
them down; what a command line or recipe names (model, base URL) wins over them:

* ``anthropic``: key ``ANTHROPIC_API_KEY`` (or ``PRODA_ANTHROPIC_API_KEY``); model default
  ``$PRODA_ANTHROPIC_MODEL`` or :data:`DEFAULT_ANTHROPIC_MODEL`.
* ``openai``: ``base_url`` or ``$PRODA_OPENAI_BASE_URL`` (a vLLM server is
  ``http://localhost:8000/v1``; unset means the OpenAI platform), ``OPENAI_API_KEY`` (or
  ``PRODA_OPENAI_API_KEY``; a self-hosted server may need none), model ``$PRODA_OPENAI_MODEL``
  when not given, ``$PRODA_OPENAI_GUIDED`` (json_schema, json_object, vllm or none) for how JSON
  is enforced.
"""

from __future__ import annotations

from typing import Literal

from proda.config import OPENAI_GUIDED_MODES, LLMSettings
from proda.errors import ConfigError
from proda.pipelines.llm.base import LLMBackend
from proda.pipelines.llm.openai_backend import Guided

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-6"
GUIDED_MODES: tuple[Guided, ...] = OPENAI_GUIDED_MODES


def make_backend(name: Literal["anthropic", "openai"], model: str | None, base_url: str | None, *,
                 timeout_s: float = 60.0, guided: Guided | None = None,
                 settings: LLMSettings | None = None) -> LLMBackend:
    """The backend called ``name``, configured from the arguments, then ``settings``.

    ``settings`` are the entry point's (``Settings().llm``); a stage that was handed none reads
    the same variables from the environment here. Returns an
    :class:`~proda.pipelines.llm.base.LLMBackend`. Raises :class:`~proda.errors.ConfigError`
    saying what to set when a key, model or URL is missing or invalid or the name is unknown, and
    :class:`~proda.errors.DependencyMissing` when the SDK is not installed.
    """
    if name not in ("anthropic", "openai"):
        raise ConfigError(f"unknown LLM backend {name!r}: use anthropic or openai")
    llm = settings if settings is not None else LLMSettings.from_environment()
    if name == "anthropic":
        from proda.pipelines.llm.anthropic_backend import AnthropicBackend

        model = model or llm.anthropic_model or DEFAULT_ANTHROPIC_MODEL
        return AnthropicBackend(model, base_url=base_url, timeout_s=timeout_s, settings=llm)
    from proda.pipelines.llm.openai_backend import OpenAICompatibleBackend

    base_url = base_url or llm.openai_base_url or None
    model = model or llm.openai_model
    if not model:
        raise ConfigError("the openai backend needs a model: pass --model or set PRODA_OPENAI_MODEL (for vLLM, "
                          "the model name `vllm serve` was started with, as listed by GET /v1/models)")
    return OpenAICompatibleBackend(model, base_url=base_url, timeout_s=timeout_s, guided=guided or llm.openai_guided,
                                   settings=llm)
