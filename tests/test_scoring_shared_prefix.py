"""Shared-prefix scoring (each item's context computed once, items packed into one forward pass)
gives the same per-option log-likelihoods as scoring every option as its own full sequence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proda.errors import ConfigError
from proda.training.evaluate import EvalConfig
from proda.training.scoring import LoglikelihoodScorer
from tests.tiny_lm import tiny_model

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ITEMS: list[tuple[str, list[str]]] = [
    ("In economics: price causes X1. Which concept is X1?", ["demand", "supply", "tax", "wages"]),
    ("What does tax increase ?", ["price", "demand and supply", "rent of the output"]),  # multi-token options
    ("Which concept is related to debt ?", ["profit", "cost"]),
    ("In economics: wages increases X2. What does X2 decrease ?", ["output", "trade", "debt", "rent", "surplus"]),
    ("How is rent related to profit ?", ["it increases profit", "it decreases profit", "cost", "tax"]),
]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_shared_prefix_and_full_scoring_agree_option_by_option(tmp_path: Path, attn: str) -> None:
    folder = tiny_model(tmp_path / "tiny")
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation=attn)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    full = LoglikelihoodScorer(model, tok, mode="full").score_many(ITEMS)
    # batch_size 2: packs of two items, and a last pack of one
    fast = LoglikelihoodScorer(model, tok, batch_size=2).score_many(ITEMS)
    assert len(fast) == len(ITEMS)
    for (_, choices), a, b in zip(ITEMS, fast, full, strict=True):
        assert len(a.loglikelihoods) == len(choices)
        assert a.loglikelihoods == pytest.approx(b.loglikelihoods, abs=1e-4)
        assert a.normalised == pytest.approx(b.normalised, abs=1e-4)
        assert (a.pred, a.pred_norm) == (b.pred, b.pred_norm)
    # the options really differ (a mask letting options see each other would still be "close" if all were equal)
    assert len({round(x, 3) for s in full for x in s.loglikelihoods}) > len(ITEMS)


def test_shared_prefix_runs_one_forward_pass_per_pack(tmp_path: Path) -> None:
    folder = tiny_model(tmp_path / "tiny")
    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    calls: list[Any] = []
    model.register_forward_hook(lambda module, args, output: calls.append(1))
    LoglikelihoodScorer(model, tok, batch_size=8).score_many(ITEMS)
    assert len(calls) == 1  # five items, twenty options: one pass
    calls.clear()
    LoglikelihoodScorer(model, tok, mode="full", batch_size=8).score_many(ITEMS)
    assert len(calls) == len(ITEMS)  # the plain path: at least one pass per item


def test_scoring_mode_is_validated() -> None:
    with pytest.raises(ConfigError, match="scoring 'fast'"):
        EvalConfig(scoring="fast")
    assert EvalConfig().scoring == "shared_prefix"
