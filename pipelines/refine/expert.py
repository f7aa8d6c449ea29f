"""The expert: an LLM prompted for end-to-end cleaning, whose answer is distilled into a program.

RefineX asks the expert for *refined text*, not for a program (experts asked for programs
hallucinate line numbers and strings); the program is derived by :mod:`.distill`. The call goes
through the shared :class:`~proda.pipelines.llm.client.LLMClient`, so it is cached by (model,
prompt version, input), retried on 429/5xx, rate-limited, accounted and stopped at a budget like
every other LLM call in ProDa.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from proda.config import LLMSettings
from proda.pipelines.llm.client import LLMClient
from proda.pipelines.refine.config import DistillConfig

PROMPT_VERSION = "refinex-expert-v1"

SYSTEM = """You clean raw web and PDF-extracted text so that it can be used to pre-train a language model.
Remove everything that is not the document's own content: navigation and menu lines, cookie and consent
banners, share buttons, running headers and footers, page numbers, copyright and legal lines, advertisements
(whole lines and snippets inside sentences), words broken by hyphenation ("photo- synthesis" -> keep
"photosynthesis" by deleting the break), and lines repeated by mistake.
Do not paraphrase, correct, summarise, translate or reorder: copy every character you keep exactly as it is,
line by line. If nothing of value remains, return an empty refined_text."""

USER = """Raw document:
<<<
{text}
>>>
Return the cleaned document in refined_text."""


class ExpertRefinement(BaseModel):
    """The expert's answer: the cleaned text ("" when the whole document is noise)."""

    refined_text: str = Field(description="the document with the noise deleted and everything else verbatim")


class Expert:
    """End-to-end refinement through an :class:`LLMClient`; ``name`` and ``model`` come from its backend."""

    prompt_version = PROMPT_VERSION

    def __init__(self, client: LLMClient, max_output_tokens: int = 8192) -> None:
        self.client = client
        self.name = client.backend.name
        self.model = client.backend.model
        self.max_output_tokens = max_output_tokens

    def refine(self, text: str) -> str:
        """The expert's refined text. Raises InvalidModelOutput, BudgetExceeded or LLMError."""
        answer, _ = self.client.generate(SYSTEM, USER.format(text=text), ExpertRefinement,
                                         max_tokens=self.max_output_tokens)
        return answer.refined_text


def make_expert(config: DistillConfig, home: Path, llm: LLMSettings | None = None) -> Expert:
    """The expert a config names, with the response cache under ``home/cache`` and its limits and budget;
    servers and keys from the entry point's ``llm`` settings (the environment when None).

    Raises ConfigError when no backend is configured and DependencyMissing without the ``llm`` extra.
    """
    from proda.errors import ConfigError
    from proda.pipelines.llm.cache import ResponseCache
    from proda.pipelines.llm.factory import make_backend
    from proda.pipelines.llm.limits import Budget, RateLimiter

    if config.backend not in ("anthropic", "openai"):
        raise ConfigError("records without a 'refined' field need an expert: pass --backend anthropic or "
                          "--backend openai (with --base-url for vLLM)")
    name: Literal["anthropic", "openai"] = "anthropic" if config.backend == "anthropic" else "openai"
    backend = make_backend(name, config.model, config.base_url, settings=llm)
    client = LLMClient(backend, cache=ResponseCache(home / "cache" / "llm.sqlite"),
                       limiter=RateLimiter(config.requests_per_minute, config.tokens_per_minute),
                       budget=Budget(config.max_cost, config.max_tokens), prompt_version=PROMPT_VERSION)
    return Expert(client, max_output_tokens=config.max_output_tokens)
