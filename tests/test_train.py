"""The training job on a tiny real model: TRL SFT from a graph dataset or a JSONL file, full and
LoRA, checkpoints, resume and the JSON summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proda.errors import ConfigError, InputError
from proda.pipelines.build import BuildConfig, build_examples
from proda.schema.store.base import GraphStore
from proda.training.sft import TrainConfig, run_training
from tests.tiny_lm import tiny_model

pytest.importorskip("trl")
transformers = pytest.importorskip("transformers")


def _tiny(tmp_path: Path) -> tuple[object, object]:
    folder = tiny_model(tmp_path / "tiny")
    return (transformers.AutoModelForCausalLM.from_pretrained(folder),
            transformers.AutoTokenizer.from_pretrained(folder))


def _records(path: Path, n: int = 12) -> Path:
    lines = [json.dumps({"messages": [{"role": "user", "content": f"What does tax {i % 3} increase ?"},
                                      {"role": "assistant", "content": "tax increases price ."}]})
             for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_full_fine_tune_checkpoints_and_resumes(tmp_path: Path) -> None:
    data = _records(tmp_path / "train.jsonl")
    model, tok = _tiny(tmp_path)
    config = TrainConfig(run_name="t1", dataset=None, train_file=str(data), max_steps=4, save_steps=2,
                         logging_steps=1, per_device_train_batch_size=4, learning_rate=1e-2)
    first = run_training(config, tmp_path, model=model, tokenizer=tok)
    assert first.steps == 4 and first.resumed_from is None
    assert [s for s, _ in first.losses] == [1, 2, 3, 4]
    assert first.losses[-1][1] < first.losses[0][1]  # it learns the one answer
    assert first.train_tokens > 0 and first.tokens_per_s > 0 and first.peak_rss_mb > 0
    summary = json.loads((tmp_path / "runs" / "train" / "t1" / "summary.json").read_text())
    assert summary["steps"] == 4 and (Path(summary["model_dir"]) / "config.json").exists()
    # more steps under the same run name: resumes from the last checkpoint instead of starting over
    model2, tok2 = _tiny(tmp_path)
    longer = TrainConfig(**{**config.__dict__, "max_steps": 6})
    second = run_training(longer, tmp_path, model=model2, tokenizer=tok2)
    assert second.resumed_from == "checkpoint-4" and second.steps == 6
    assert [s for s, _ in second.losses] == [5, 6]


def test_lora_from_a_graph_dataset(falkordb_store: GraphStore, tmp_path: Path) -> None:
    from tests.test_build import graph

    graph(falkordb_store)
    build_examples(falkordb_store, BuildConfig(dataset="tiny"))
    model, tok = _tiny(tmp_path)
    config = TrainConfig(run_name="lora", dataset="tiny", method="lora", lora_r=4, lora_alpha=8, max_steps=2,
                         save_steps=10, logging_steps=1, per_device_train_batch_size=4, max_length=256)
    summary = run_training(config, tmp_path, store=falkordb_store, model=model, tokenizer=tok)
    assert summary.records == 16 and summary.steps == 2
    merged = transformers.AutoModelForCausalLM.from_pretrained(summary.model_dir)  # adapters merged: plain model
    assert not any("lora" in name for name, _ in merged.named_parameters())


def test_bad_input_and_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="method"):
        TrainConfig(method="qlora")
    with pytest.raises(ConfigError, match="dataset"):
        TrainConfig(dataset=None)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    model, tok = _tiny(tmp_path)
    with pytest.raises(InputError, match=r"bad.jsonl:1: .*assistant"):
        run_training(TrainConfig(dataset=None, train_file=str(bad)), tmp_path, model=model, tokenizer=tok)
