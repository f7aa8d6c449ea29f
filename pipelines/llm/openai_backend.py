"""Any OpenAI-compatible Chat Completions server through the official ``openai`` SDK.

This is how a vLLM server (``vllm serve MODEL``, which listens on ``http://localhost:8000/v1``)
or llama.cpp's server is used, as well as OpenAI itself. How the JSON shape is enforced depends on
``guided`` (``PRODA_OPENAI_GUIDED``; docs/llm-servers.md says which server takes which):

* ``"json_schema"``: ``response_format={"type": "json_schema", ...}`` (OpenAI structured outputs;
  recent vLLM versions accept it too). ``strict`` is off because pydantic schemas use keywords
  (``maxLength``, ``default``...) that OpenAI's strict mode rejects; the client validates anyway.
* ``"json_object"``: ``response_format={"type": "json_object", "schema": ...}``, the form
  llama-cpp-python's server (``python -m llama_cpp.server``) turns into a grammar; it answers the
  json_schema form with an error. The schema goes without its upper length and count bounds
  (:func:`grammar_schema`); the client still validates every answer against all of it.
* ``"vllm"``: vLLM's ``guided_json`` extra parameter, for vLLM versions that predate
  ``response_format`` support.
* ``"none"``: the schema is only described in the instructions, for servers with neither.

The SDK's own retries are switched off (``max_retries=0``): the client retries.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

from proda.config import OPENAI_GUIDED_MODES, LLMSettings, OpenAIGuided
from proda.errors import ConfigError, DependencyMissing, LLMError
from proda.pipelines.llm.base import (
    LLMBackend,
    LLMResult,
    MalformedModelOutput,
    TransientLLMError,
    Usage,
    is_transient_status,
    parse_json_object,
    retry_after_seconds,
)
from proda.pipelines.llm.limits import estimate_tokens

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.chat.completion_create_params import ResponseFormat

Guided = OpenAIGuided
#: what the SDK sends when a server needs no key (vLLM without ``--api-key`` accepts anything)
NO_KEY = "EMPTY"


#: Upper bounds that llama.cpp's grammar compiler unrolls into one nested optional rule per allowed
#: repetition: the extraction schema's 2000-character evidence exceeds its rule limit ("number of
#: rules that are going to be repeated ... exceeds sane defaults"), which took llama-cpp-python
#: 0.3's server process down.
UNROLLED_BOUNDS = frozenset({"maxLength", "maxItems", "maxProperties"})
_NAME_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})


def grammar_schema(schema: Any) -> Any:
    """``schema`` without the keywords of :data:`UNROLLED_BOUNDS`, for grammar-constrained decoding.

    Keys of ``properties`` and ``$defs`` are names, not keywords: a field called ``maxLength`` stays.
    """
    if isinstance(schema, list):
        return [grammar_schema(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in UNROLLED_BOUNDS:
            continue
        if key in _NAME_MAPS and isinstance(value, dict):
            out[key] = {name: grammar_schema(sub) for name, sub in value.items()}
        else:
            out[key] = grammar_schema(value)
    return out


def _rejects_json_schema(message: str) -> bool:
    """Whether an error answer says the server takes only the text / json_object response formats.

    llama-cpp-python's server answers ``{"type": "json_schema"}`` with pydantic's "Input should be
    'text' or 'json_object'"; other servers word it differently but name both.
    """
    lowered = message.lower()
    return "json_object" in lowered and ("'text'" in lowered or "json_schema" in lowered)


def is_openai_platform(base_url: str | None) -> bool:
    """Whether ``base_url`` addresses OpenAI itself (None does) rather than a self-hosted server."""
    host = urlparse(base_url).hostname if base_url else "api.openai.com"
    return host is not None and (host == "openai.com" or host.endswith(".openai.com"))


class OpenAICompatibleBackend(LLMBackend):
    """Chat Completions with JSON output, against OpenAI or a self-hosted server such as vLLM.

    ``base_url`` None means the OpenAI platform. ``api_key`` defaults to the key of ``settings``
    (read from ``$PRODA_OPENAI_API_KEY`` then ``$OPENAI_API_KEY`` when no settings are given); a
    self-hosted server may need none. Raises
    :class:`~proda.errors.ConfigError` when the OpenAI platform is addressed without a key or
    ``guided`` is unknown, and :class:`~proda.errors.DependencyMissing` without the SDK.
    """

    name = "openai"

    def __init__(self, model: str, *, base_url: str | None, api_key: str | None = None, timeout_s: float = 60.0,
                 guided: Guided = "json_schema", client: openai.OpenAI | None = None,
                 settings: LLMSettings | None = None) -> None:
        if guided not in OPENAI_GUIDED_MODES:
            raise ConfigError(f"guided={guided!r}: use one of {', '.join(OPENAI_GUIDED_MODES)}")
        self.model = model
        self.guided: Guided = guided
        if client is None:
            try:
                import openai
            except ImportError as e:
                raise DependencyMissing("openai", extra="llm", why="for --backend openai") from e
            key = api_key or (settings or LLMSettings.from_environment()).openai_key()
            if not key:
                if is_openai_platform(base_url):
                    raise ConfigError("no OpenAI API key: set OPENAI_API_KEY (or PRODA_OPENAI_API_KEY), or set "
                                      "PRODA_OPENAI_BASE_URL / --base-url to an OpenAI-compatible server such "
                                      "as vLLM (http://localhost:8000/v1)")
                key = NO_KEY
            client = openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout_s, max_retries=0)
        self._client = client
        # OpenAI's newer models refuse max_tokens and want max_completion_tokens; vLLM has always
        # understood max_tokens and only recent versions the other, so each server gets its own.
        self._on_platform = is_openai_platform(str(client.base_url))

    def _instructions(self, system: str, schema: dict[str, Any]) -> str:
        if self.guided == "json_schema":
            # The server shows the schema to the model itself; repeating it would cost tokens.
            return f"{system}\n\nAnswer with a single JSON object and nothing else."
        # Guided decoding (vllm, json_object) constrains tokens but does not show the model the
        # field descriptions, and "none" enforces nothing: describe the schema in the instructions.
        return (f"{system}\n\nAnswer with a single JSON object and nothing else. It must follow this "
                f"JSON schema:\n{json.dumps(schema, separators=(',', ':'))}")

    def generate_json(self, *, system: str, prompt: str, schema: dict[str, Any], schema_name: str,
                      max_tokens: int) -> LLMResult:
        """One Chat Completions call; see :meth:`LLMBackend.generate_json`."""
        import openai

        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": self._instructions(system, schema)},
            {"role": "user", "content": prompt},
        ]
        extra_body: dict[str, object] | None = None
        response_format: ResponseFormat | openai.Omit = openai.omit
        if self.guided == "json_schema":
            response_format = {"type": "json_schema",
                               "json_schema": {"name": schema_name, "schema": schema, "strict": False}}
        elif self.guided == "json_object":
            # "schema" is not in the SDK's type for this format; the SDK sends the dict as it is.
            response_format = cast("ResponseFormat", {"type": "json_object", "schema": grammar_schema(schema)})
        elif self.guided == "vllm":
            extra_body = {"guided_json": schema}
        try:
            completion = self._client.chat.completions.create(
                model=self.model, messages=messages, response_format=response_format, extra_body=extra_body,
                max_completion_tokens=max_tokens if self._on_platform else openai.omit,
                max_tokens=openai.omit if self._on_platform else max_tokens)
        except openai.APITimeoutError as e:
            raise TransientLLMError(f"request to {self._client.base_url} timed out: {e}") from e
        except openai.APIConnectionError as e:
            raise TransientLLMError(f"cannot reach {self._client.base_url}: {e}") from e
        except openai.APIStatusError as e:
            if self.guided == "json_schema" and _rejects_json_schema(e.message):
                # No retry can help (llama-cpp-python says so with a 500): say which mode to set.
                raise LLMError(f"{self._client.base_url} returned {e.status_code}: {e.message}. This server does "
                               "not take response_format json_schema; set PRODA_OPENAI_GUIDED=json_object (a "
                               "llama.cpp server), or PRODA_OPENAI_GUIDED=none to only describe the schema in the "
                               "prompt (docs/llm-servers.md)") from e
            if is_transient_status(e.status_code):
                raise TransientLLMError(f"{self._client.base_url} returned {e.status_code}: {e.message}",
                                        retry_after=retry_after_seconds(e.response.headers),
                                        status_code=e.status_code) from e
            raise LLMError(f"{self._client.base_url} returned {e.status_code}: {e.message}") from e
        except openai.OpenAIError as e:
            raise LLMError(f"request to {self._client.base_url} failed: {e}") from e

        if not completion.choices:
            raise MalformedModelOutput("the response has no choices", raw="")
        choice = completion.choices[0]
        text = choice.message.content or ""
        if completion.usage is not None:
            usage = Usage(input_tokens=completion.usage.prompt_tokens,
                          output_tokens=completion.usage.completion_tokens)
        else:  # some servers omit usage; an estimate keeps budgets meaningful
            usage = Usage(input_tokens=estimate_tokens(system) + estimate_tokens(prompt),
                          output_tokens=estimate_tokens(text))
        if choice.message.content is None:
            raise MalformedModelOutput(f"the answer has no content (refusal: {choice.message.refusal!r}, "
                                       f"finish_reason={choice.finish_reason})", raw="", usage=usage)
        note = "the answer was cut at max_tokens" if choice.finish_reason == "length" else ""
        data = parse_json_object(text, usage=usage, note=note)
        return LLMResult(data=data, usage=usage, model=completion.model, backend=self.name)
