"""A tiny real causal LM for tests: a word-level tokenizer built here and a random 2-layer Llama,
saved as a Hugging Face folder (what transformers, TRL and lm-eval's `hf` model load). Nothing is
downloaded; training and scoring it take seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

NAMES = ["price", "demand", "surplus", "supply", "tax", "wages", "profit", "cost", "rent", "output", "trade", "debt"]
EXTRA_WORDS = ["Question", "Answer", "In", "economics", "X1", "X2", "Which", "concept", "is", "and", "causes",
               "decreases", "increases", "What", "does", "how", "related", "to", "the", "a", "of", "user",
               "assistant", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")


def tiny_model(folder: Path) -> Path:
    """A word-level tokenizer over the benchmark's words and a random 2-layer Llama, saved as a
    Hugging Face folder (what lm-eval's `hf` model loads)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = sorted({w for n in NAMES for w in n.split()} | set(EXTRA_WORDS) | {":", ".", ",", "?"})
    vocab = {"<unk>": 0, "<pad>": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                   eos_token="<pad>", bos_token="<pad>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=1, bos_token_id=1, eos_token_id=1, tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(folder)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    return folder


