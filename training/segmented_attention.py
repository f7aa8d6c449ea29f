"""Attention for padding-free batches that attends within each record only, at each record's cost.

A padding-free step is one flattened sequence of several records. Transformers keeps them apart for
``sdpa`` with a dense block-diagonal mask over the whole sequence, so attention costs the square of
the step's length even though each record only ever looks at itself, and a masked call cannot take
the causal fast path. When the batch carries the cumulative record boundaries (``cu_seq_lens_q``, as
TRL's padding-free collator writes them), this function runs causal scaled-dot-product attention
per record instead: the cost falls from the square of the total length to the sum of the records'
squares and the result is the same (a test compares it with each record run alone). Any other batch
(padded, generation with a cache, sliding windows) goes to transformers' own ``sdpa`` unchanged.

Hand-written because the maintained alternatives do not run here: ``flash_attention_2``'s varlen
kernel is CUDA-only, and ``flex_attention`` on CPU compiles with inductor on first use, which costs
more than a short run saves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

SEGMENTED_SDPA = "proda_segmented_sdpa"


def segmented_sdpa(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
                   scaling: float | None = None, is_causal: bool | None = None, **kwargs: Any) -> tuple[Any, None]:
    """transformers' attention-function signature: (batch, heads, length, dim) in, (batch, length, heads, dim) out."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    bounds: Any = kwargs.get("cu_seq_lens_q")
    plain = (bounds is None or query.shape[0] != 1 or query.shape[2] != key.shape[2]
             or kwargs.get("sliding_window") is not None or kwargs.get("softcap") is not None)
    if plain:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    grouped = query.shape[1] != key.shape[1]
    drop = dropout if module.training else 0.0
    edges = [int(b) for b in bounds]
    pieces = [torch.nn.functional.scaled_dot_product_attention(
        query[:, :, start:end], key[:, :, start:end], value[:, :, start:end], dropout_p=drop, is_causal=True,
        scale=scaling, enable_gqa=grouped) for start, end in pairwise(edges) if end > start]
    return torch.cat(pieces, dim=2).transpose(1, 2).contiguous(), None


def register() -> str:
    """Make :data:`SEGMENTED_SDPA` a name transformers accepts; idempotent. Its mask is sdpa's, which the
    fallback path needs and the segmented path ignores."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(SEGMENTED_SDPA, segmented_sdpa)
    AttentionMaskInterface.register(SEGMENTED_SDPA, sdpa_mask)
    return SEGMENTED_SDPA


@contextmanager
def segmented_attention(model: Any) -> Iterator[bool]:
    """Train ``model`` with segmented attention where it uses ``sdpa``; yields whether it switched. The
    model's own implementation comes back afterwards, so what is saved and later loaded is unchanged."""
    config = getattr(model, "config", None)
    before = getattr(config, "_attn_implementation", None)
    if before != "sdpa" or not hasattr(model, "set_attn_implementation"):
        yield False
        return
    model.set_attn_implementation(register())
    try:
        yield True
    finally:
        model.set_attn_implementation(before)
