"""Record-by-record attention for padding-free batches: the same logits as each record run alone,
the stock path for everything else, and the model's own attention back after training."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from proda.training.segmented_attention import SEGMENTED_SDPA, segmented_attention

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _model(kv_heads: int) -> Any:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=kv_heads,
                                      max_position_embeddings=64, attn_implementation="sdpa")
    return transformers.LlamaForCausalLM(config).eval()


def _packed(lengths: list[int]) -> dict[str, Any]:
    ids = torch.randint(1, 64, (1, sum(lengths)))
    bounds = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    positions = torch.cat([torch.arange(n) for n in lengths]).unsqueeze(0)
    return {"input_ids": ids, "position_ids": positions, "cu_seq_lens_q": bounds, "cu_seq_lens_k": bounds,
            "max_length_q": max(lengths), "max_length_k": max(lengths), "use_cache": False}


@pytest.mark.parametrize("kv_heads", [4, 2])  # plain and grouped-query attention
def test_packed_records_get_the_logits_they_get_alone(kv_heads: int) -> None:
    model = _model(kv_heads)
    batch = _packed([5, 1, 9, 3])
    edges = batch["cu_seq_lens_q"].tolist()
    with torch.no_grad():
        alone = torch.cat([model(input_ids=batch["input_ids"][:, s:e], use_cache=False).logits
                           for s, e in pairwise(edges)], dim=1)
        with segmented_attention(model) as switched:
            assert switched and model.config._attn_implementation == SEGMENTED_SDPA
            packed = model(**batch).logits
        stock = model(**batch).logits
    assert model.config._attn_implementation == "sdpa"  # what gets saved is the model's own attention
    assert torch.allclose(packed, alone, atol=1e-5)
    assert torch.allclose(stock, alone, atol=1e-5)  # the dense block-diagonal mask agrees; it is only slower
    # records leaking into each other would show: the same tokens unsegmented, one causal row, differ
    with torch.no_grad():
        leaky = model(input_ids=batch["input_ids"], use_cache=False).logits
    assert not torch.allclose(leaky, alone, atol=1e-3)


def test_batches_without_record_bounds_take_the_stock_path() -> None:
    model = _model(2)
    ids = torch.randint(1, 64, (2, 7))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # left padding
    with torch.no_grad():
        stock = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        with segmented_attention(model):
            segmented = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    assert torch.allclose(segmented, stock, atol=1e-6)


def test_models_not_on_sdpa_are_left_alone() -> None:
    model = _model(2)
    model.set_attn_implementation("eager")
    with segmented_attention(model) as switched:
        assert not switched and model.config._attn_implementation == "eager"
