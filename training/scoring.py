"""Multiple-choice scoring: log-likelihood of each option (lm-evaluation-harness's definition) for
local models, and a robust answer parser for generative (API / served) models.

The log-likelihood path mirrors lm-eval's ``multiple_choice`` task exactly so the two agree: the
context is ``"Question: {question}\\nAnswer:"``, each continuation is ``" " + choice``; context and
continuation are encoded together and the continuation's tokens are the tail beyond the context's
encoding (no special tokens, as lm-eval does for causal LMs); ``acc`` takes the highest summed
log-probability and ``acc_norm`` the highest divided by the choice's length in characters.

Two ways to compute the same numbers. ``full`` runs one padded sequence per option, context and
all, as lm-eval does. ``shared_prefix`` (the default) computes the context once per item: an item
becomes one packed sequence ``context + option 1 + option 2 + ...`` whose attention mask lets each
option see the context and itself only, with positions restarting after the context, so each
option token gets the same log-probability as in its own sequence; several items share one packed
forward pass (block-diagonal), and only the positions that predict option tokens go through the
vocabulary projection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

LETTERS = "ABCDEFGHIJ"
SCORING_MODES = ("shared_prefix", "full")


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


class OptionScorer(Protocol):
    """What scores one item's options: :class:`LoglikelihoodScorer`, or a stand-in (tests, renders)."""

    def score(self, question: str, choices: Sequence[str]) -> OptionScores: ...


def score_items(scorer: OptionScorer, items: Sequence[tuple[str, Sequence[str]]]) -> list[OptionScores]:
    """The option scores of ``(question, choices)`` items, in order: several per forward pass where the
    scorer can (``score_many``); a stand-in scorer with only ``score`` is asked item by item."""
    many = getattr(scorer, "score_many", None)
    if many is not None:
        return list(many(items))
    return [scorer.score(question, choices) for question, choices in items]


class LoglikelihoodScorer:
    """Scores options of items with a causal LM (a transformers model and its tokenizer).

    ``mode`` is ``shared_prefix`` (context once per item, items packed together; ``batch_size``
    items per forward pass) or ``full`` (one sequence per option; ``batch_size`` options per pass).
    Both give the same log-likelihoods up to float rounding.
    """

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 8, mode: str = "shared_prefix") -> None:
        if mode not in SCORING_MODES:
            raise ValueError(f"scoring mode {mode!r}: use {' or '.join(SCORING_MODES)}")
        self.model, self.tokenizer, self.batch_size, self.mode = model, tokenizer, batch_size, mode

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
        return self.score_many([(question, choices)])[0]

    def score_many(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[OptionScores]:
        """The scores of several ``(question, choices)`` items, in order (see :meth:`score`)."""
        if self.mode == "full":
            return [self._score_full(q, choices) for q, choices in items]
        out: list[OptionScores] = []
        for start in range(0, len(items), self.batch_size):
            out.extend(self._score_packed(items[start:start + self.batch_size]))
        return out

    def _score_packed(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[OptionScores]:
        """One forward pass over the items packed into one row (see the module docstring)."""
        import torch

        tokens: list[int] = []
        positions: list[int] = []
        # per token: which item it belongs to, and which option (-1: the item's context)
        owner: list[tuple[int, int]] = []
        # per option token to score: (index of the packed position predicting it, its token id)
        targets: list[list[list[tuple[int, int]]]] = []
        for n, (question, choices) in enumerate(items):
            pairs = [self._pair(mc_context(question), " " + c) for c in choices]
            ctx = pairs[0][0]  # the context's encoding does not depend on the option
            base = len(tokens)
            tokens += ctx
            positions += range(len(ctx))
            owner += [(n, -1)] * len(ctx)
            item_targets: list[list[tuple[int, int]]] = []
            for j, (_, cont) in enumerate(pairs):
                # the option's last token is only predicted, never an input (lm-eval's ``[:-1]``)
                start = len(tokens)
                tokens += cont[:-1]
                positions += range(len(ctx), len(ctx) + len(cont) - 1)
                owner += [(n, j)] * (len(cont) - 1)
                predictors = [base + len(ctx) - 1, *range(start, start + len(cont) - 1)]
                item_targets.append(list(zip(predictors, cont, strict=True)))
            targets.append(item_targets)
        device = next(self.model.parameters()).device
        dtype = next(self.model.parameters()).dtype
        # built where the model runs: the mask is quadratic in the packed length, which on a GPU with large
        # batches would otherwise cost more on the CPU (and in the copy) than the forward pass itself
        item_of = torch.tensor([o[0] for o in owner], device=device)
        option_of = torch.tensor([o[1] for o in owner], device=device)
        index = torch.arange(len(tokens), device=device)
        # a query sees an earlier key of its own item that is either context or its own option
        allowed = ((item_of[:, None] == item_of[None, :]) & (index[None, :] <= index[:, None])
                   & ((option_of[None, :] == -1) | (option_of[None, :] == option_of[:, None])))
        # additive float mask: what every attention implementation (eager, sdpa) takes as it is
        mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)
        wanted = sorted({p for item in targets for option in item for p, _ in option})
        row = {p: k for k, p in enumerate(wanted)}
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([tokens], device=device),
                                position_ids=torch.tensor([positions], device=device),
                                attention_mask=mask[None, None],
                                logits_to_keep=torch.tensor(wanted, device=device)).logits[0]
            logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        out = []
        for (_, choices), item_targets in zip(items, targets, strict=True):
            lls = [float(sum(float(logprobs[row[p], t]) for p, t in option)) for option in item_targets]
            out.append(OptionScores(lls, [ll / max(1, len(c)) for ll, c in zip(lls, choices, strict=True)]))
        return out

    def _score_full(self, question: str, choices: Sequence[str]) -> OptionScores:
        """One padded sequence per option, context included (lm-eval's own layout)."""
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
