"""What LLM calls may use and what they cost: rate limits, prices, budgets and per-run totals.

Token counts before a call are *estimates* (:func:`estimate_tokens`); after a call the provider's
reported usage replaces them, both in the rate limiter's window and in the budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, NamedTuple

from proda.errors import BudgetExceeded, ConfigError
from proda.pipelines.llm.base import Usage

WINDOW_S = 60.0
Counter = Literal["calls", "cached_hits", "retries", "repairs", "invalid_outputs", "failures"]


def estimate_tokens(text: str) -> int:
    """A rough token count for ``text``: one token per four characters, rounded up.

    This is an estimate, not a tokenizer (no model files, no network): English prose averages
    about four characters per token on current BPE vocabularies; code, non-Latin scripts and
    JSON punctuation run denser. Use it for budgets and rate limits, where the provider's actual
    usage corrects it after each call.
    """
    return math.ceil(len(text) / 4)


@dataclass
class _Slot:
    at: float
    tokens: int


class RateLimiter:
    """Requests- and tokens-per-minute limits over a sliding 60 s window.

    :meth:`acquire` blocks (through ``sleep``) until a call with the given token estimate fits
    under both limits, then records it; :meth:`settle` replaces the estimate by the actual
    usage. A single call estimated above ``tokens_per_minute`` is let through once the window is
    empty, since waiting could never make it fit. None disables a limit. Thread-safe; each
    process has its own window.
    """

    def __init__(self, requests_per_minute: int | None, tokens_per_minute: int | None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        for label, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and value < 1:
                raise ConfigError(f"{label}={value}: use a positive number, or leave it unset for no limit")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._clock = clock
        self._sleep = sleep
        self._slots: deque[_Slot] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._slots and self._slots[0].at <= now - WINDOW_S:
            self._slots.popleft()

    def _wait_needed(self, now: float, tokens: int) -> float:
        """Seconds until a call of ``tokens`` fits (0 when it fits now)."""
        wait = 0.0
        rpm = self.requests_per_minute
        if rpm is not None and len(self._slots) >= rpm:
            wait = max(wait, self._slots[len(self._slots) - rpm].at + WINDOW_S - now)
        tpm = self.tokens_per_minute
        if tpm is not None and self._slots:
            excess = sum(s.tokens for s in self._slots) + min(tokens, tpm) - tpm
            for slot in self._slots:  # oldest first: wait until enough tokens have left the window
                if excess <= 0:
                    break
                excess -= slot.tokens
                wait = max(wait, slot.at + WINDOW_S - now)
        return wait

    def acquire(self, estimated_tokens: int) -> object:
        """Block until a call fits, record it, and return a ticket for :meth:`settle`."""
        with self._lock:  # waiting while holding the lock queues callers in arrival order
            while True:
                now = self._clock()
                self._expire(now)
                wait = self._wait_needed(now, estimated_tokens)
                if wait <= 0:
                    slot = _Slot(now, estimated_tokens)
                    self._slots.append(slot)
                    return slot
                self._sleep(wait)

    def settle(self, ticket: object, actual_tokens: int) -> None:
        """Replace a call's token estimate by what it actually used (0 when it was refused)."""
        if isinstance(ticket, _Slot):
            with self._lock:
                ticket.tokens = actual_tokens


class Price(NamedTuple):
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float


#: List prices (USD per million tokens) when this was written; check the providers' pages and
#: override with :meth:`Pricing.with_price`. Matched by the longest prefix of the model name.
KNOWN_PRICES: dict[str, Price] = {
    "claude-opus-4-6": Price(5.0, 25.0),
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-opus-4": Price(15.0, 75.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-3-5-sonnet": Price(3.0, 15.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
    "claude-3-haiku": Price(0.25, 1.25),
    # An unknown Claude model is priced like the dearest one, so a budget errs on the safe side.
    "claude-": Price(15.0, 75.0),
    "gpt-4o-mini": Price(0.15, 0.6),
    "gpt-4o": Price(2.5, 10.0),
}


class Pricing:
    """Prices by model name: the longest matching prefix of :data:`KNOWN_PRICES` plus overrides.

    Any other model (a local model served by vLLM, say) costs 0 unless given a price.
    """

    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self._prices = {**KNOWN_PRICES, **(overrides or {})}

    def with_price(self, model_prefix: str, input_per_mtok: float, output_per_mtok: float) -> Pricing:
        """A copy where models starting with ``model_prefix`` cost the given USD per million tokens."""
        if input_per_mtok < 0 or output_per_mtok < 0:
            raise ConfigError(f"price for {model_prefix!r} must not be negative")
        return Pricing({**self._prices, model_prefix: Price(input_per_mtok, output_per_mtok)})

    def price(self, model: str) -> Price:
        """The price of ``model``; ``Price(0, 0)`` when no prefix matches."""
        matches = [prefix for prefix in self._prices if model.startswith(prefix)]
        return self._prices[max(matches, key=len)] if matches else Price(0.0, 0.0)

    def cost(self, input_tokens: int, output_tokens: int, model: str) -> float:
        """USD for that many tokens on ``model``."""
        p = self.price(model)
        return (input_tokens * p.input_per_mtok + output_tokens * p.output_per_mtok) / 1_000_000


class Budget:
    """A cap on a run's spending, in USD and/or tokens (None: no cap).

    :meth:`check` runs *before* each call with the worst case (the input estimate plus the whole
    ``max_tokens`` allowance) so a run stops before it could pass the cap, not after.
    """

    def __init__(self, max_cost_usd: float | None, max_tokens: int | None, pricing: Pricing | None = None) -> None:
        if max_cost_usd is not None and max_cost_usd < 0:
            raise ConfigError(f"max_cost_usd={max_cost_usd}: must not be negative")
        if max_tokens is not None and max_tokens < 0:
            raise ConfigError(f"max_tokens={max_tokens}: must not be negative")
        self.max_cost_usd = max_cost_usd
        self.max_tokens = max_tokens
        self.pricing = pricing or Pricing()
        self.spent_usd = 0.0
        self.spent_tokens = 0
        self._lock = threading.Lock()

    def check(self, estimated_input_tokens: int, max_output_tokens: int, model: str) -> None:
        """Raise :class:`~proda.errors.BudgetExceeded` if the worst case of the next call would pass a cap."""
        with self._lock:
            worst_tokens = estimated_input_tokens + max_output_tokens
            if self.max_tokens is not None and self.spent_tokens + worst_tokens > self.max_tokens:
                raise BudgetExceeded(
                    f"token budget: {self.spent_tokens} used of {self.max_tokens}; the next call may use up to "
                    f"{worst_tokens} more (about {estimated_input_tokens} in + {max_output_tokens} out)")
            if self.max_cost_usd is not None:
                worst_cost = self.pricing.cost(estimated_input_tokens, max_output_tokens, model)
                if self.spent_usd + worst_cost > self.max_cost_usd:
                    raise BudgetExceeded(
                        f"cost budget: ${self.spent_usd:.4f} spent of ${self.max_cost_usd:.4f}; the next call "
                        f"on {model} may cost up to ${worst_cost:.4f} more")

    def record(self, usage: Usage, model: str) -> None:
        """Count what a call actually used."""
        with self._lock:
            self.spent_tokens += usage.total_tokens
            self.spent_usd += self.pricing.cost(usage.input_tokens, usage.output_tokens, model)


@dataclass
class Accounting:
    """One run's LLM totals.

    ``calls`` counts requests sent to a backend (retries and repairs included), ``cached_hits``
    answers served by the cache, ``retries`` transient failures that were retried, ``repairs``
    repair requests, ``invalid_outputs`` answers that failed parsing or validation, ``failures``
    requests (``generate`` calls) that ended in an error.
    """

    calls: int = 0
    cached_hits: int = 0
    retries: int = 0
    repairs: int = 0
    invalid_outputs: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_usage(self, usage: Usage, cost_usd: float) -> None:
        """Count one answered call's tokens and cost."""
        with self._lock:
            self.input_tokens += usage.input_tokens
            self.output_tokens += usage.output_tokens
            self.cost_usd += cost_usd

    def bump(self, counter: Counter, n: int = 1) -> None:
        """Add ``n`` to one of the integer counters (``calls``, ``retries``...)."""
        with self._lock:
            setattr(self, counter, getattr(self, counter) + n)

    def to_dict(self) -> dict[str, Any]:
        """The totals as a JSON-ready dict (cost rounded to 1e-6 USD)."""
        with self._lock:
            data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        data["cost_usd"] = round(self.cost_usd, 6)
        return data
