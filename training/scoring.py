"""Multiple-choice scoring: log-likelihood of each option (lm-evaluation-harness's definition) for
local models, and a robust answer parser for generative (API / served) models.

The log-likelihood path mirrors lm-eval's ``multiple_choice`` task exactly so the two agree: the
context is ``"Question: {question}\\nAnswer:"``, each continuation is ``" " + choice``; context and
continuation are encoded together and the continuation's tokens are the tail beyond the context's
encoding (no special tokens, as lm-eval does for causal LMs); ``acc`` takes the highest summed
log-probability and ``acc_norm`` the highest divided by the choice's length in characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LETTERS = "ABCDEFGHIJ"


def mc_context(question: str) -> str:
    """The context of an item, exactly as the exported lm-eval task's ``doc_to_text`` renders it."""
    return f"Question: {question}\nAnswer:"


@dataclass(frozen=True)
class OptionScores:
    """Per-option log-likelihoods of one item; ``pred`` / ``pred_norm`` are the argmax indexes."""

    loglikelihoods: list[float]
    normalised: list[float]

    @property
    def pred(self) -> int:
        return max(range(len(self.loglikelihoods)), key=self.loglikelihoods.__getitem__)

    @property
    def pred_norm(self) -> int:
        return max(range(len(self.normalised)), key=self.normalised.__getitem__)


class LoglikelihoodScorer:
    """Scores options of items with a causal LM (a transformers model and its tokenizer)."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 8) -> None:
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    def _pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        # lm-eval moves trailing spaces of the context onto the continuation before encoding
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        whole = self.tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
        ctx = self.tokenizer(context, add_special_tokens=False)["input_ids"]
        return ctx, whole[len(ctx):]

    def score(self, question: str, choices: Sequence[str]) -> OptionScores:
        """The summed log-probability of each ``" " + choice`` after the item's context."""
        import torch

        context = mc_context(question)
        pairs = [self._pair(context, " " + c) for c in choices]
        lls: list[float] = []
        for start in range(0, len(pairs), self.batch_size):
            batch = pairs[start:start + self.batch_size]
            seqs = [(ctx + cont)[:-1] for ctx, cont in batch]
            width = max(len(s) for s in seqs)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], dtype=torch.long)
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], dtype=torch.long)
            device = next(self.model.parameters()).device
            with torch.no_grad():
                logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            for row, (ctx, cont) in enumerate(batch):
                positions = range(len(ctx) - 1, len(ctx) - 1 + len(cont))
                lls.append(float(sum(logprobs[row, p, t] for p, t in zip(positions, cont, strict=True))))
        return OptionScores(lls, [ll / max(1, len(c)) for ll, c in zip(lls, choices, strict=True)])


def lettered_prompt(question: str, choices: Sequence[str]) -> str:
    """The generative-mode prompt: the question, lettered options, and how to answer."""
    listing = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return (f"{question}\n\n{listing}\n\nAnswer with the letter of the correct option only "
            f"({', '.join(LETTERS[:len(choices)])}).")


_PATTERNS = (
    re.compile(r"^\s*\(?([A-J])\)?\s*(?:[.):\]]|$)", re.IGNORECASE),       # "B", "b.", "(B)", "B)"
    re.compile(r"\b(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-J])\)?\b", re.IGNORECASE),
    re.compile(r"\*\*\(?([A-J])\)?[.):]?\*\*"),                             # "**B**"
    re.compile(r"\(([A-J])\)"),                                              # "... (B) ..."
)


def parse_answer(text: str, choices: Sequence[str]) -> int | None:
    """The option a free-text answer picks, or None when it cannot be told (counted as unparseable).

    Tries a leading letter, "the answer is X", a bold letter, then an option's exact text when exactly
    one option's text appears. A letter beyond the options is unparseable, not wrong.
    """
    letters = LETTERS[:len(choices)]
    for pattern in _PATTERNS:
        m = pattern.search(text)
        if m and m.group(1).upper() in letters:
            return letters.index(m.group(1).upper())
    lowered = text.lower()
    named = [i for i, c in enumerate(choices) if c.lower() in lowered]
    if len(named) == 1:
        return named[0]
    return None
