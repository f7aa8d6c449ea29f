"""Extraction through an LLM backend (Anthropic, or an OpenAI-compatible server such as vLLM).

The prompt asks for the top-down order of method.md: reasoning chains first, each step a typed
triple with a verbatim evidence span, concepts named as in the text. The answer's schema is
:class:`ChunkExtraction`; validation, one repair, one retry and quarantine happen in the shared
:class:`~proda.pipelines.llm.client.LLMClient`, so a bad answer is never cached as a success.
"""

from __future__ import annotations

from pathlib import Path

from proda.pipelines.extract.config import ExtractConfig
from proda.pipelines.extract.model import ChunkExtraction, ChunkInput
from proda.pipelines.llm.client import LLMClient
from proda.schema.vocabulary import Vocabulary, default_vocabulary

PROMPT_VERSION = "topdown-v1"

SYSTEM = """You extract a knowledge structure from one passage of a {discipline} textbook, top-down:
1. Find the reasoning chains the passage states: sequences where one concept leads to another through
   explicit relations (A causes B, B increases C ...). A chain may have one step if nothing longer is stated.
2. Write each chain as ordered steps; each step is a triple (subject, relation, object) where the object
   of a step is the subject of the next.
3. Name concepts exactly as the passage does (short noun phrases, no pronouns).
Use only these relation types: {types}.
Evidence must be copied verbatim from the passage: the clause that states the step.
Extract only what the passage states; do not add outside knowledge. Return nothing rather than guessing."""

USER = """Passage (document: {title}; section: {section}):
\"\"\"
{text}
\"\"\""""


class LLMExtractor:
    """Extractor over an :class:`LLMClient`; ``name`` and ``model`` come from its backend."""

    prompt_version = PROMPT_VERSION

    def __init__(self, client: LLMClient, vocabulary: Vocabulary | None = None, max_output_tokens: int = 2048) -> None:
        self.client = client
        self.name = client.backend.name
        self.model: str | None = client.backend.model
        self.vocabulary = vocabulary or default_vocabulary()
        self.max_output_tokens = max_output_tokens

    def prompts(self, chunk: ChunkInput) -> tuple[str, str]:
        """The (system, user) prompt pair for one chunk."""
        types = ", ".join(t.name for t in self.vocabulary.types()
                          if t.discipline in (None, chunk.discipline))
        system = SYSTEM.format(discipline=chunk.discipline.replace("_", " "), types=types)
        user = USER.format(title=chunk.title or "-", section=chunk.section or "-", text=chunk.text)
        return system, user

    def extract(self, chunk: ChunkInput) -> ChunkExtraction:
        """Extract one chunk; raises InvalidModelOutput, BudgetExceeded or LLMError."""
        system, user = self.prompts(chunk)
        extraction, _ = self.client.generate(system, user, ChunkExtraction, max_tokens=self.max_output_tokens)
        return extraction


def llm_extractor(config: ExtractConfig, home: Path) -> LLMExtractor:
    """Build the client (cache under ``home/cache``, limits and budget from ``config``) and extractor.

    Servers, models and keys not named by ``config`` come from ``config.llm_settings`` (the entry
    point's), else from the environment.
    """
    from proda.pipelines.llm.cache import ResponseCache
    from proda.pipelines.llm.factory import make_backend
    from proda.pipelines.llm.limits import Budget, RateLimiter

    backend = make_backend(config.backend, config.model, config.base_url,  # type: ignore[arg-type]
                           settings=config.llm_settings)
    cache = ResponseCache(home / "cache" / "llm.sqlite")
    limiter = RateLimiter(config.requests_per_minute, config.tokens_per_minute)
    budget = Budget(config.max_cost, config.max_tokens)
    client = LLMClient(backend, cache=cache, limiter=limiter, budget=budget, prompt_version=PROMPT_VERSION)
    return LLMExtractor(client, max_output_tokens=config.max_output_tokens)
