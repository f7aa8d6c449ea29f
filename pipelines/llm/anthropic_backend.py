"""Anthropic's Messages API through the official ``anthropic`` SDK, structured output by tool use.

The schema is offered as the only tool and ``tool_choice`` forces the model to call it, so the
answer arrives as the tool call's ``input`` object. The SDK's own retries are switched off
(``max_retries=0``): the client retries, the same way on every backend.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from proda.config import LLMSettings
from proda.errors import ConfigError, DependencyMissing, LLMError
from proda.pipelines.llm.base import (
    LLMBackend,
    LLMResult,
    MalformedModelOutput,
    TransientLLMError,
    Usage,
    is_transient_status,
    retry_after_seconds,
)

if TYPE_CHECKING:
    import anthropic


class AnthropicBackend(LLMBackend):
    """Claude models via ``anthropic.Anthropic``.

    ``api_key`` defaults to the key of ``settings`` (read from ``$PRODA_ANTHROPIC_API_KEY`` then
    ``$ANTHROPIC_API_KEY`` when no settings are given); ``client`` replaces the SDK client
    altogether (then key, URL and timeout are the caller's business).
    Raises :class:`~proda.errors.ConfigError` when no key is found and
    :class:`~proda.errors.DependencyMissing` when the SDK is not installed.
    """

    name = "anthropic"

    def __init__(self, model: str, *, api_key: str | None = None, base_url: str | None = None,
                 timeout_s: float = 60.0, client: anthropic.Anthropic | None = None,
                 settings: LLMSettings | None = None) -> None:
        self.model = model
        if client is None:
            try:
                import anthropic
            except ImportError as e:
                raise DependencyMissing("anthropic", extra="llm", why="for --backend anthropic") from e
            key = api_key or (settings or LLMSettings.from_environment()).anthropic_key()
            if not key:
                raise ConfigError("no Anthropic API key: set ANTHROPIC_API_KEY (or PRODA_ANTHROPIC_API_KEY)")
            # An explicit api_key keeps the SDK from consulting profiles or federation settings.
            client = anthropic.Anthropic(api_key=key, base_url=base_url, timeout=timeout_s, max_retries=0)
        self._client = client

    def generate_json(self, *, system: str, prompt: str, schema: dict[str, Any], schema_name: str,
                      max_tokens: int) -> LLMResult:
        """One Messages API call forcing the ``schema_name`` tool; see :meth:`LLMBackend.generate_json`."""
        import anthropic

        try:
            message = self._client.messages.create(
                model=self.model,
                max_tokens=max_tokens,
                system=system,
                messages=[{"role": "user", "content": prompt}],
                tools=[{"name": schema_name, "input_schema": schema,
                        "description": "Record the answer. Its input is the complete answer."}],
                tool_choice={"type": "tool", "name": schema_name},
            )
        except anthropic.APITimeoutError as e:
            raise TransientLLMError(f"Anthropic request timed out: {e}") from e
        except anthropic.APIConnectionError as e:
            raise TransientLLMError(f"cannot reach the Anthropic API: {e}") from e
        except anthropic.APIStatusError as e:
            detail = e.api_message or e.message
            if is_transient_status(e.status_code):
                raise TransientLLMError(f"Anthropic API returned {e.status_code}: {detail}",
                                        retry_after=retry_after_seconds(e.response.headers),
                                        status_code=e.status_code) from e
            raise LLMError(f"Anthropic API returned {e.status_code}: {detail}") from e
        except anthropic.AnthropicError as e:
            raise LLMError(f"Anthropic request failed: {e}") from e

        usage = Usage(input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens)
        texts: list[str] = []
        for block in message.content:
            if block.type == "tool_use" and block.name == schema_name:
                # Typed as a dict, but the SDK does not validate responses: check what arrived.
                data: object = block.input
                if not isinstance(data, dict):
                    raise MalformedModelOutput(f"the tool input is not an object (got {type(data).__name__})",
                                               raw=json.dumps(data), usage=usage)
                return LLMResult(data=data, usage=usage, model=message.model, backend=self.name)
            if block.type == "text":
                texts.append(block.text)
        raise MalformedModelOutput(
            f"the model did not call the {schema_name!r} tool (stop_reason={message.stop_reason})",
            raw="\n".join(texts), usage=usage)
