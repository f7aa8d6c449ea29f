"""The path every LLM call takes: cache, budget, rate limit, retries, validation and repair.

:meth:`LLMClient.generate` returns a validated pydantic object or raises; it never returns a
"failed" answer. In order:

1. the response cache: a hit costs nothing and is counted;
2. per request sent: the budget's worst-case check, the rate limiter, the backend call, retried
   with exponential backoff and jitter on :class:`~proda.pipelines.llm.base.TransientLLMError`
   only (a server's ``retry-after`` wins over the backoff);
3. validation against the output model; when it fails, ONE repair request (the previous answer
   and what was wrong with it), then ONE fresh retry of the original request, then
   :class:`~proda.errors.InvalidModelOutput` with the reasons;
4. only the final valid answer is cached.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from proda.errors import InvalidModelOutput, LLMError
from proda.pipelines.llm.base import LLMBackend, LLMResult, MalformedModelOutput, TransientLLMError, Usage
from proda.pipelines.llm.cache import ResponseCache, cache_key
from proda.pipelines.llm.limits import Accounting, Budget, Pricing, RateLimiter, estimate_tokens

T = TypeVar("T", bound=BaseModel)

#: how much of a previous answer a repair request quotes
REPAIR_QUOTE_CHARS = 20_000
MAX_ERRORS_SHOWN = 8


@dataclass(frozen=True)
class Backoff:
    """How long to wait between attempts.

    Attempt n waits ``min(initial_s * 2**(n-1) + U(0, jitter_s), max_s)``; when the server sent
    ``retry-after``, that delay is used instead (capped at ``max_retry_after_s``). ``sleep`` is
    injectable so tests do not wait.
    """

    initial_s: float = 1.0
    max_s: float = 30.0
    jitter_s: float = 1.0
    max_retry_after_s: float = 300.0
    sleep: Callable[[float], None] = time.sleep


def schema_name_of(model: type[BaseModel]) -> str:
    """The tool / response-format name for an output model: its class name in snake_case
    (``ChunkExtraction`` -> ``chunk_extraction``), within the providers' ``[a-zA-Z0-9_-]{1,64}``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", model.__name__).lower()
    return re.sub(r"[^a-z0-9_-]", "_", snake)[:64] or "answer"


def summarize_validation_error(error: ValidationError) -> str:
    """A one-line summary of a pydantic error: ``location: message`` for the first few problems."""
    problems = error.errors(include_url=False)
    shown = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in problems[:MAX_ERRORS_SHOWN]]
    more = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def repair_prompt(prompt: str, previous_answer: str, problem: str) -> str:
    """The original request followed by the rejected answer and what was wrong with it."""
    if len(previous_answer) > REPAIR_QUOTE_CHARS:
        previous_answer = previous_answer[:REPAIR_QUOTE_CHARS] + " [...cut]"
    return (f"{prompt}\n\n---\nYour previous answer to this request could not be used.\n"
            f"Previous answer:\n{previous_answer}\n\nWhat is wrong with it:\n{problem}\n\n"
            "Answer again with the complete, corrected JSON object only.")


class LLMClient:
    """Structured LLM calls with caching, budgets, rate limits, retries and output repair.

    ``prompt_version`` is part of every cache key: bump it when a prompt template changes.
    ``max_attempts`` bounds the attempts of each request on transient errors. ``pricing``
    defaults to the budget's (or the built-in table). ``accounting`` holds the run's totals.
    """

    def __init__(self, backend: LLMBackend, *, cache: ResponseCache | None, limiter: RateLimiter | None,
                 budget: Budget | None, prompt_version: str, max_attempts: int = 5, backoff: Backoff | None = None,
                 pricing: Pricing | None = None) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.backend = backend
        self.cache = cache
        self.limiter = limiter
        self.budget = budget
        self.prompt_version = prompt_version
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.pricing = pricing or (budget.pricing if budget is not None else Pricing())
        self.accounting = Accounting()
        self._exponential = wait_exponential_jitter(initial=self.backoff.initial_s, max=self.backoff.max_s,
                                                    jitter=self.backoff.jitter_s)

    # -- public -------------------------------------------------------------------------------

    def generate(self, system: str, prompt: str, output_model: type[T], *,
                 max_tokens: int = 2048) -> tuple[T, LLMResult]:
        """Ask for one ``output_model`` object.

        Returns the validated object and the :class:`LLMResult` it came from (``cached=True``
        for a cache hit). Raises :class:`~proda.errors.BudgetExceeded` before a request that
        could pass the budget, :class:`~proda.errors.InvalidModelOutput` when the answer stays
        invalid after one repair and one fresh retry, and :class:`~proda.errors.LLMError` for
        non-retryable errors or when retries are exhausted.
        """
        schema = output_model.model_json_schema()
        schema_name = schema_name_of(output_model)
        key = cache_key(self.backend.name, self.backend.model, self.prompt_version, system, prompt, schema)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                try:
                    parsed = output_model.model_validate(hit.data)
                except ValidationError:
                    pass  # stale entry (same schema, stricter validators): ask again and overwrite it
                else:
                    self.accounting.bump("cached_hits")
                    return parsed, hit
        try:
            parsed, result = self._valid_answer(system, prompt, schema, schema_name, output_model, max_tokens)
        except LLMError:
            self.accounting.bump("failures")
            raise
        if self.cache is not None:
            self.cache.put(key, result)
        return parsed, result

    def estimate(self, prompts: Sequence[tuple[str, str]], max_tokens: int = 2048, *,
                 output_model: type[BaseModel] | None = None) -> dict[str, Any]:
        """What generating ``(system, prompt)`` pairs would cost at most, without sending anything.

        Returns ``calls`` (requests needed), ``cached`` (pairs the cache already answers; only
        counted when ``output_model`` is given, since its schema is part of the key),
        ``input_tokens`` (estimated, schema included when known), ``worst_case_output_tokens``
        (``max_tokens`` per call) and ``est_cost_usd`` (at that worst case). Repairs and retries
        are not foreseen.
        """
        schema = output_model.model_json_schema() if output_model is not None else None
        schema_tokens = estimate_tokens(json.dumps(schema)) if schema is not None else 0
        calls = cached = input_tokens = 0
        for system, prompt in prompts:
            if schema is not None and self.cache is not None:
                key = cache_key(self.backend.name, self.backend.model, self.prompt_version, system, prompt, schema)
                if self.cache.get(key) is not None:
                    cached += 1
                    continue
            calls += 1
            input_tokens += estimate_tokens(system) + estimate_tokens(prompt) + schema_tokens
        output_tokens = calls * max_tokens
        return {"backend": self.backend.name, "model": self.backend.model, "calls": calls, "cached": cached,
                "input_tokens": input_tokens, "worst_case_output_tokens": output_tokens,
                "est_cost_usd": round(self.pricing.cost(input_tokens, output_tokens, self.backend.model), 6)}

    # -- the request path ---------------------------------------------------------------------

    def _valid_answer(self, system: str, prompt: str, schema: dict[str, Any], schema_name: str,
                      output_model: type[T], max_tokens: int) -> tuple[T, LLMResult]:
        problems: list[str] = []
        previous = ""
        # The original request, one repair of its answer, one fresh try of the original request.
        for step in ("original", "repair", "retry"):
            request = repair_prompt(prompt, previous, problems[-1]) if step == "repair" else prompt
            if step == "repair":
                self.accounting.bump("repairs")
            try:
                result = self._send(system, request, schema, schema_name, max_tokens)
            except MalformedModelOutput as e:
                self.accounting.bump("invalid_outputs")
                problems.append(str(e))
                previous = e.raw
                continue
            try:
                return output_model.model_validate(result.data), result
            except ValidationError as e:
                self.accounting.bump("invalid_outputs")
                problems.append(f"it does not match the schema: {summarize_validation_error(e)}")
                previous = json.dumps(result.data, ensure_ascii=False)
        raise InvalidModelOutput(
            f"{self.backend.name} {self.backend.model} gave no valid {output_model.__name__} after one repair "
            f"and one retry; " + " | ".join(f"{step}: {p}" for step, p in zip(("answer", "repair", "retry"),
                                                                              problems, strict=True)))

    def _send(self, system: str, prompt: str, schema: dict[str, Any], schema_name: str,
              max_tokens: int) -> LLMResult:
        """One request, retried on transient errors; usage is recorded for every answer."""
        estimated_input = estimate_tokens(system) + estimate_tokens(prompt) + estimate_tokens(json.dumps(schema))
        retrying = Retrying(
            retry=retry_if_exception_type(TransientLLMError),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            sleep=self.backoff.sleep,
            before_sleep=lambda _state: self.accounting.bump("retries"),
            reraise=True,
        )
        try:
            return retrying(self._attempt, system, prompt, schema, schema_name, max_tokens, estimated_input)
        except TransientLLMError as e:
            raise LLMError(f"{self.backend.name} {self.backend.model}: gave up after {self.max_attempts} "
                           f"attempts: {e}") from e

    def _attempt(self, system: str, prompt: str, schema: dict[str, Any], schema_name: str, max_tokens: int,
                 estimated_input: int) -> LLMResult:
        model = self.backend.model
        if self.budget is not None:
            self.budget.check(estimated_input, max_tokens, model)
        ticket = self.limiter.acquire(estimated_input + max_tokens) if self.limiter is not None else None
        self.accounting.bump("calls")
        try:
            result = self.backend.generate_json(system=system, prompt=prompt, schema=schema,
                                                schema_name=schema_name, max_tokens=max_tokens)
        except MalformedModelOutput as e:
            if e.usage is not None:
                self._record(e.usage, model, ticket)
            raise
        except TransientLLMError as e:
            if e.status_code is not None and self.limiter is not None:
                self.limiter.settle(ticket, 0)  # refused by the server: it used no tokens
            raise
        self._record(result.usage, model, ticket)
        return result

    def _record(self, usage: Usage, model: str, ticket: object) -> None:
        self.accounting.add_usage(usage, self.pricing.cost(usage.input_tokens, usage.output_tokens, model))
        if self.budget is not None:
            self.budget.record(usage, model)
        if self.limiter is not None:
            self.limiter.settle(ticket, usage.total_tokens)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, TransientLLMError) and error.retry_after is not None:
            return min(error.retry_after, self.backoff.max_retry_after_s)
        return float(self._exponential(state))
