"""The one interface every LLM backend implements, what a call returns, and the errors it raises.

A backend does exactly one HTTP request per :meth:`LLMBackend.generate_json` call and never
retries: retries, caching, rate limits and budgets belong to :class:`~proda.pipelines.llm.client.LLMClient`,
so they behave the same on every provider. A backend's only other job is to map its SDK's errors
onto three kinds the client knows how to treat:

* :class:`TransientLLMError` (429, 5xx, timeouts, connection errors): worth retrying;
* :class:`~proda.errors.LLMError` (400, 401, 403, 404...): retrying cannot help;
* :class:`MalformedModelOutput`, an :class:`~proda.errors.InvalidModelOutput`: the answer arrived
  but is not a JSON object; the client may ask for a repair.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from proda.errors import InvalidModelOutput, LLMError


class Usage(BaseModel):
    """Tokens one call consumed, as the provider reported them."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


class LLMResult(BaseModel):
    """One structured answer: the JSON object, what it cost, and where it came from."""

    data: dict[str, Any]
    usage: Usage
    model: str = Field(description="the model that answered, as the provider named it")
    backend: str
    cached: bool = Field(default=False, description="served from the response cache; cost nothing")


class TransientLLMError(LLMError):
    """A failure that may go away on its own (429, 5xx, timeout, connection reset): retry it.

    ``retry_after`` is the delay in seconds the server asked for (``retry-after`` header), if any.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status_code = status_code


class MalformedModelOutput(InvalidModelOutput):
    """The model answered, but not with a JSON object.

    ``raw`` is the text it returned (for the repair prompt) and ``usage`` what the answer cost,
    since a useless answer is still billed.
    """

    def __init__(self, message: str, *, raw: str, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.raw = raw
        self.usage = usage


class LLMBackend(ABC):
    """A provider adapter: one request in, one JSON object (or a mapped error) out."""

    #: short backend name, part of cache keys and accounting ("anthropic", "openai")
    name: str
    #: the model requested from the provider
    model: str

    @abstractmethod
    def generate_json(self, *, system: str, prompt: str, schema: dict[str, Any], schema_name: str,
                      max_tokens: int) -> LLMResult:
        """Ask the model for one JSON object following ``schema``.

        Returns the parsed object with its usage. Raises :class:`TransientLLMError` for failures
        worth retrying, :class:`~proda.errors.LLMError` for the others, and
        :class:`MalformedModelOutput` when the answer is not a JSON object. The object is *not*
        validated against ``schema`` here; the client does that.
        """


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The delay a response asked for, in seconds, or None when it named none.

    Reads ``retry-after-ms`` (Anthropic and OpenAI send it) and then ``retry-after`` as seconds
    or as an HTTP date. Negative or unparsable values give None.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return seconds if seconds >= 0 else None


_FENCED = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def parse_json_object(text: str, *, usage: Usage | None = None, note: str = "") -> dict[str, Any]:
    """Parse a model's text answer as one JSON object, tolerating a ```json fenced block around it.

    Returns the object. Raises :class:`MalformedModelOutput` (carrying ``text``) when it is not
    valid JSON or not an object; ``note`` (e.g. "the answer was cut at max_tokens") is appended
    to the message.
    """
    candidate = text.strip()
    fenced = _FENCED.search(candidate)
    if fenced is not None:
        candidate = fenced.group(1).strip()
    suffix = f" ({note})" if note else ""
    try:
        value = json.loads(candidate)
    except json.JSONDecodeError as e:
        raise MalformedModelOutput(f"the answer is not valid JSON: {e}{suffix}", raw=text, usage=usage) from e
    if not isinstance(value, dict):
        raise MalformedModelOutput(f"the answer is JSON but not an object (got {type(value).__name__}){suffix}",
                                   raw=text, usage=usage)
    return value


def is_transient_status(status_code: int) -> bool:
    """Whether an HTTP status is worth retrying: 408 (timeout), 409 (lock conflict), 429, and 5xx
    (Anthropic's 529 "overloaded" included); the same set the providers' SDKs retry by default."""
    return status_code in (408, 409, 429) or status_code >= 500
