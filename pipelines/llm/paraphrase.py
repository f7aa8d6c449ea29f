"""Optional LLM paraphrase of templated wording, shared by the Tester (question stems) and the Builder
(training turns).

Templates stay the default: offline and deterministic. A :class:`Paraphraser` asks an LLM backend
(through :class:`~proda.pipelines.llm.client.LLMClient`, so cache, retries, rate limits and the
budget behave as in extraction) to reword one piece of text, then *checks* the answer before it
replaces anything:

* every name in ``keep`` still appears (case and spacing aside: a sentence may start with it);
* no name in ``forbid`` (an answer, an option, a hidden concept) appears more often than in the
  template, so a reworded question never gives its answer away;
* the answer is not empty, not the template again, and not a ramble.

A failed check, an invalid answer, an exhausted budget or a failing backend keeps the template and
says why (``kept_template: <reason>``), so no item or example is ever lost to paraphrase. The prompt
depends only on the template and the names to keep, so the same input gives the same prompt and, on
a rerun, the cached answer: paraphrase is deterministic given the cache.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, Field

from proda.errors import BudgetExceeded, ConfigError, InvalidModelOutput, LLMError

if TYPE_CHECKING:
    from proda.config import LLMSettings
    from proda.pipelines.llm.client import LLMClient

#: part of every cache key: bump it when SYSTEM, KINDS or the request layout change
PROMPT_VERSION = "paraphrase-v1"
BACKENDS = ("anthropic", "openai")
MAX_OUTPUT_TOKENS = 512
PARAPHRASED = "paraphrased"
KEPT = "kept_template"

#: help texts of the config fields both BenchConfig and BuildConfig carry (one wording, two jobs)
HELP = {
    "paraphrase_backend": "reword templated text with an LLM: anthropic or openai (any OpenAI-compatible server, "
                          "e.g. vLLM); unset (the default) keeps the offline, deterministic templates. A reworded "
                          "text that loses a concept or names an answer keeps its template, counted by reason",
    "paraphrase_model": "model of the paraphrase backend (default: $PRODA_ANTHROPIC_MODEL or claude-sonnet-4-6; "
                        "$PRODA_OPENAI_MODEL for openai)",
    "paraphrase_base_url": "OpenAI-compatible server URL for paraphrase, e.g. http://localhost:8000/v1 for "
                           "`vllm serve` (default: $PRODA_OPENAI_BASE_URL)",
    "paraphrase_max_cost": "stop paraphrasing before spending more USD than this; the remaining texts keep "
                           "their templates (counted as budget_exhausted) and a rerun resumes from the cache",
}

Kind = Literal["bench_question", "training_question", "training_answer"]
KINDS: dict[Kind, str] = {
    "bench_question": (
        "the stem of a multiple-choice question from a {field} benchmark. It names one concept, walks a path of "
        "relations through unnamed concepts (X1, X2, ...) and asks which concept the path ends at. Keep every "
        "step with its relation and direction, in order, and keep asking for the concept at the end of the path; "
        "you may keep the X labels or describe the unnamed concepts another way, but never name them."),
    "training_question": (
        "a question from a {field} training set. Keep what it asks, and whatever it tells the reader, exactly."),
    "training_answer": (
        "the answer of a {field} training example. Keep the fact it states exactly, with its direction."),
}

SYSTEM = """You reword text that was generated from a template, so that it reads like natural textbook English.
The text is {what}
Rules:
- Keep the meaning exactly: the same concepts, relations and directions. Add no facts, names, hints, examples
  or answers, and do not answer a question.
- Copy every name listed under "Keep verbatim" exactly as written.
- Return only the reworded text, in the `text` field."""

USER = """Keep verbatim: {keep}
Text to reword:
{text}"""


class Rewording(BaseModel):
    """What the model is asked for: the reworded text alone."""

    text: str = Field(min_length=1, max_length=4000, description="the reworded text, nothing else")


class ParaphraseSettings(Protocol):
    """The paraphrase fields a job's config carries (BenchConfig, BuildConfig)."""

    paraphrase_backend: str | None
    paraphrase_model: str | None
    paraphrase_base_url: str | None
    paraphrase_max_cost: float | None


def validate_settings(config: ParaphraseSettings) -> None:
    """Raise :class:`~proda.errors.ConfigError` for an unknown backend or a negative budget."""
    if config.paraphrase_backend is not None and config.paraphrase_backend not in BACKENDS:
        raise ConfigError(f"paraphrase_backend {config.paraphrase_backend!r}: use anthropic or openai, or leave it "
                          "unset to keep the templates")
    if config.paraphrase_max_cost is not None and config.paraphrase_max_cost < 0:
        raise ConfigError(f"paraphrase_max_cost={config.paraphrase_max_cost}: must not be negative")


def _name_pattern(name: str) -> re.Pattern[str]:
    words = name.split()
    # a name is matched whole (not inside a longer word) and whatever its case or inner spacing
    return re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)", re.IGNORECASE)


def occurrences(name: str, text: str, among: Sequence[str] = ()) -> int:
    """How often ``name`` appears in ``text`` as a whole phrase, ignoring case and spacing.

    Mentions that are part of a longer name in ``among`` do not count: with ``among=["price floor"]``,
    "price" occurs once in "price and price floor".
    """
    if not name.strip():
        return 0
    for longer in among:
        if len(longer) > len(name) and _name_pattern(name).search(longer):
            text = _name_pattern(longer).sub(" ", text)
    return len(_name_pattern(name).findall(text))


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def check_rewording(template: str, candidate: str, *, keep: Sequence[str] = (),
                    forbid: Sequence[tuple[str, str]] = ()) -> tuple[bool, str]:
    """Whether ``candidate`` may replace ``template``; returns ``(use_it, reason)``.

    Every ``keep`` name must still occur. ``forbid`` pairs a name with its role ("answer", "option"...):
    the candidate may not name it more often than the template does (usually never). Names are counted
    whole and apart from longer names that contain them (see :func:`occurrences`). Reasons:
    ``paraphrased``, or ``empty``, ``unchanged``, ``leaked_<role>``, ``lost_concept``, ``too_long``.
    """
    if not candidate.strip():
        return False, "empty"
    if _normal(candidate) == _normal(template):
        return False, "unchanged"
    names = [*keep, *(name for name, _ in forbid)]
    for name, role in forbid:
        if occurrences(name, candidate, names) > occurrences(name, template, names):
            return False, f"leaked_{role}"
    if any(occurrences(name, candidate, names) == 0 for name in keep if name.strip()):
        return False, "lost_concept"
    if len(candidate) > 2 * len(template) + 200:
        return False, "too_long"
    return True, PARAPHRASED


@dataclass(frozen=True)
class Reworded:
    """One text after paraphrase: the text to use, and ``outcome`` (``paraphrased`` or
    ``kept_template: <reason>``); ``paraphrased`` is False whenever the template was kept."""

    text: str
    outcome: str

    @property
    def paraphrased(self) -> bool:
        return self.outcome == PARAPHRASED


class Paraphraser:
    """Rewords templated text through ``client`` and checks every answer before it is used.

    ``label`` (``backend:model``) is what items and examples record as ``paraphrased_by``. After the
    budget runs out or the backend fails for good, :attr:`stopped` says why and no further request is
    made: every later text keeps its template with that reason.
    """

    def __init__(self, client: LLMClient, *, max_tokens: int = MAX_OUTPUT_TOKENS) -> None:
        self.client = client
        self.max_tokens = max_tokens
        self.label = f"{client.backend.name}:{client.backend.model}"
        self.counts: Counter[str] = Counter()
        self.stopped: str | None = None
        self._stop_reason = ""

    @staticmethod
    def prompts(text: str, kind: Kind, discipline: str, keep: Sequence[str]) -> tuple[str, str]:
        """The (system, user) prompt pair for one text; nothing in it varies between runs."""
        what = KINDS[kind].format(field=discipline.replace("_", " "))
        shown = json.dumps(list(keep), ensure_ascii=False) if keep else "(none)"
        return SYSTEM.format(what=what), USER.format(keep=shown, text=text)

    def reword(self, text: str, *, kind: Kind, discipline: str, keep: Sequence[str] = (),
               forbid: Sequence[tuple[str, str]] = ()) -> Reworded:
        """``text`` reworded, or ``text`` itself with the reason it was kept; never raises for what the
        model or the budget does (a programming error still raises)."""
        keep = tuple(dict.fromkeys(n for n in keep if n.strip()))
        if self.stopped is not None:
            return self._kept(text, self._stop_reason)
        system, prompt = self.prompts(text, kind, discipline, keep)
        try:
            answer, _ = self.client.generate(system, prompt, Rewording, max_tokens=self.max_tokens)
        except BudgetExceeded as e:
            self.stopped, self._stop_reason = f"budget: {e}", "budget_exhausted"
            return self._kept(text, self._stop_reason)
        except InvalidModelOutput:
            return self._kept(text, "invalid_output")
        except LLMError as e:  # auth, bad request, retries exhausted: the next text would fail the same way
            self.stopped, self._stop_reason = f"backend: {e}", "llm_error"
            return self._kept(text, self._stop_reason)
        # a one-line template stays one line (a model may wrap its answer)
        candidate = answer.text.strip() if "\n" in text else " ".join(answer.text.split())
        ok, reason = check_rewording(text, candidate, keep=keep, forbid=forbid)
        if not ok:
            return self._kept(text, reason)
        self.counts[PARAPHRASED] += 1
        return Reworded(candidate, PARAPHRASED)

    def _kept(self, text: str, reason: str) -> Reworded:
        outcome = f"{KEPT}: {reason}"
        self.counts[outcome] += 1
        return Reworded(text, outcome)

    def usage(self) -> dict[str, Any]:
        """The run's LLM totals (requests, cache hits, tokens, cost) plus why paraphrase stopped, if it did."""
        return {"paraphrased_by": self.label, **self.client.accounting.to_dict(), "stopped": self.stopped}

    def close(self) -> None:
        """Close the response cache (the paraphraser cannot be used afterwards)."""
        if self.client.cache is not None:
            self.client.cache.close()


def make_paraphraser(config: ParaphraseSettings, home: Path | None, *, timeout_s: float = 60.0,
                     max_attempts: int = 5, settings: LLMSettings | None = None) -> Paraphraser | None:
    """The paraphraser ``config`` asks for, or None when it names no backend (templates only).

    Answers are cached in ``home/cache/llm.sqlite`` (shared with extraction and evaluation; keys
    differ by prompt version); ``settings`` are the entry point's LLM settings (see
    :func:`~proda.pipelines.llm.factory.make_backend`). Raises :class:`~proda.errors.ConfigError`
    for a missing home, key or model or an unknown backend, and
    :class:`~proda.errors.DependencyMissing` when the SDK is not installed.
    """
    validate_settings(config)
    backend_name = config.paraphrase_backend
    if backend_name is None:
        return None
    if home is None:
        # The caller owns the state directory: a stage must not guess it from the environment.
        raise ConfigError("paraphrasing keeps its response cache under the ProDa home: pass home= (the CLI passes "
                          "PRODA_HOME / --home)")
    from proda.pipelines.llm.cache import ResponseCache
    from proda.pipelines.llm.client import LLMClient
    from proda.pipelines.llm.factory import make_backend
    from proda.pipelines.llm.limits import Budget, RateLimiter

    backend = make_backend("anthropic" if backend_name == "anthropic" else "openai", config.paraphrase_model,
                           config.paraphrase_base_url, timeout_s=timeout_s, settings=settings)
    client = LLMClient(backend, cache=ResponseCache(home / "cache" / "llm.sqlite"), limiter=RateLimiter(None, None),
                       budget=Budget(config.paraphrase_max_cost, None), prompt_version=PROMPT_VERSION,
                       max_attempts=max_attempts)
    return Paraphraser(client)
