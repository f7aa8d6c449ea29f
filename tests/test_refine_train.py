"""The refine model end to end on a tiny real model: TRL SFT trains it (loss logged, weights change), the
saved folder loads for transformers inference, and whatever it writes passes the parser and fails closed.
The datatrove step runs the same programs inside a datatrove pipeline."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from proda.errors import InputError
from proda.pipelines.refine.distill import distill
from proda.pipelines.refine.interpreter import execute, is_subsequence
from proda.pipelines.refine.model import RefineModel, TransformersGenerator, ViewConfig, training_records, windows
from proda.pipelines.refine.noise import NoiseGenerator, excerpts
from proda.training.refine_sft import RefineSFTConfig, read_records, train_refine_model

pytest.importorskip("trl", reason="the train extra is not installed")

FIXTURE = Path(__file__).parent / "fixtures" / "refine" / "openstax_excerpts.jsonl"
VIEW = ViewConfig(max_window_chars=400, max_line_chars=60)
CHAT = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


def _noisy_docs(n: int) -> list[tuple[str, str]]:
    rng = random.Random(0)
    gen = NoiseGenerator("train", seed=0, p_clean=0.0, p_junk=0.0)
    out = []
    for line in FIXTURE.read_text().splitlines():
        rec = json.loads(line)
        for text in excerpts(rec["text"], max_chars=500, rng=rng, count=2):
            doc = gen.document(rec["id"], text)
            out.append((doc.raw, doc.clean))
    return out[:n]


def _tiny_model_and_tokenizer(texts: list[str]) -> tuple[Any, Any]:
    """A randomly initialised 2-layer Llama and a BPE tokenizer trained here on ``texts`` (fully offline)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<unk>", "<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|end|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                        bos_token="<s>", eos_token="<|end|>")
    tokenizer.chat_template = CHAT
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id)
    return LlamaForCausalLM(config), tokenizer


def test_sft_trains_a_tiny_model_that_then_refines_and_fails_closed(tmp_path: Path) -> None:
    import torch

    torch.manual_seed(0)
    docs = _noisy_docs(4)
    records = []
    for k, (raw, clean) in enumerate(docs):
        records.extend(training_records(f"d{k}", raw, distill(raw, clean).program, VIEW))
    assert any("remove_lines" in r["completion"][0]["content"] for r in records)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    texts = [r["prompt"][0]["content"] + r["completion"][0]["content"] for r in records]
    model, tokenizer = _tiny_model_and_tokenizer(texts)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    config = RefineSFTConfig(train_file=str(data), output_dir=str(tmp_path / "refine"), max_steps=3,
                             per_device_train_batch_size=2, logging_steps=1, learning_rate=1e-3, max_length=512)
    report = train_refine_model(config, tmp_path, model=model, tokenizer=tokenizer)
    assert report.steps == 3 and len(report.losses) == 3 and all(loss > 0 for loss in report.losses)
    assert report.train_tokens > 0 and report.records == len(records)
    changed = [n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())]
    assert len(changed) == len(before)
    saved = tmp_path / "refine"
    assert (saved / "config.json").is_file() and (saved / "refine_train.json").is_file()

    # inference from the saved folder; three steps teach nothing, so what comes out must fail closed
    refine = RefineModel(TransformersGenerator(str(saved), max_new_tokens=12, batch_size=2, home=tmp_path), VIEW)
    raw = docs[0][0]
    [result] = refine.programs([raw])
    assert len(result.raw_outputs) == len(windows(raw, VIEW))
    run = execute(result.program, raw)
    assert is_subsequence(run.text, raw)
    if result.issues.get("malformed_program") == len(result.raw_outputs):
        assert run.text == raw and result.errors  # every window kept unchanged, each error reported


def test_training_data_problems_are_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": [], "completion": []}\n{"messages": []}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2"):
        read_records(bad)
    with pytest.raises(InputError, match="no such file"):
        read_records(tmp_path / "missing.jsonl")
    (tmp_path / "broken.jsonl").write_text("{oops\n")
    with pytest.raises(InputError, match="malformed JSON"):
        read_records(tmp_path / "broken.jsonl")


def test_datatrove_step_refines_drops_and_counts() -> None:
    pytest.importorskip("datatrove", reason="the refine extra is not installed")
    from datatrove.data import Document

    from proda.pipelines.refine.datatrove_step import RefineXStep
    from tests.test_refine_stage import ScriptedModel

    class Excluded:
        def __init__(self) -> None:
            self.docs: list[Any] = []

        def __enter__(self) -> Excluded:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def write(self, doc: Any, rank: int = 0) -> None:
            self.docs.append(doc)

    excluded = Excluded()
    step = RefineXStep(source=RefineModel(ScriptedModel()), batch_size=2, exclusion_writer=excluded)
    docs = [Document(text="Home | Courses\nThe demand curve slopes down.", id="a"),
            Document(text="JUNKPAGE cookie wall\nAccept all", id="b"),
            Document(text="Plain text stays.", id="c"),
            Document(text="GARBAGE answer\nkept as is", id="d")]
    out = list(step.run(iter(docs)))
    assert [d.id for d in out] == ["a", "c", "d"] and [d.id for d in excluded.docs] == ["b"]
    assert out[0].text == "The demand curve slopes down."
    assert out[0].metadata["original_text"] == "Home | Courses\nThe demand curve slopes down."
    assert out[0].metadata["refinex"]["program"] == "remove_lines(1, 1)"
    assert out[2].text == "GARBAGE answer\nkept as is"
    stats = step.stats.to_dict() if hasattr(step.stats, "to_dict") else {}
    counted = json.dumps(stats)
    assert "dropped" in counted and "issue_malformed_program" in counted
