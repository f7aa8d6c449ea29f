"""The training job on a tiny real model: TRL SFT from a graph dataset or a JSONL file, full and
LoRA, checkpoints, resume and the JSON summary."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proda.errors import ConfigError, InputError
from proda.pipelines.build import BuildConfig, build_examples
from proda.pipelines.build.config import FAMILIES
from proda.schema.store.base import GraphStore
from proda.training.scoring import mc_context
from proda.training.sft import TrainConfig, load_records, run_training
from tests.builder_world import builder_graph
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
    before = {n: p.detach().clone() for n, p in model.named_parameters()}  # type: ignore[attr-defined]
    config = TrainConfig(run_name="t1", dataset=None, train_file=str(data), max_steps=4, save_steps=2,
                         logging_steps=1, per_device_train_batch_size=4, learning_rate=1e-2)
    first = run_training(config, tmp_path, model=model, tokenizer=tok)
    assert first.steps == 4 and first.resumed_from is None
    assert [s for s, _ in first.losses] == [1, 2, 3, 4]
    assert first.losses[-1][1] < first.losses[0][1]  # it learns the one answer
    changed = [n for n, p in model.named_parameters()  # type: ignore[attr-defined]
               if not bool((p.detach() == before[n]).all())]
    assert len(changed) == len(before)  # a full fine-tune moves every tensor
    assert first.train_tokens > 0 and first.tokens_per_s > 0 and first.peak_rss_mb > 0
    summary = json.loads((tmp_path / "runs" / "train" / "t1" / "summary.json").read_text())
    assert summary["steps"] == 4 and (Path(summary["model_dir"]) / "config.json").exists()
    # finished: of checkpoints 2 and 4 only the newest is kept, as the resume point for more steps
    assert [p.name for p in (tmp_path / "runs" / "train" / "t1").glob("checkpoint-*")] == ["checkpoint-4"]
    # the same run again: the finished model is reused as it is, never stepped past max_steps
    weights = sorted(Path(first.model_dir).glob("*.safetensors"))
    stamps = [w.stat().st_mtime_ns for w in weights]
    shown: list[tuple[int, int]] = []
    again = run_training(config, tmp_path, model=model, tokenizer=tok, progress=lambda *a: shown.append(a))
    assert again.reused and not first.reused
    assert shown == [(4, 4)]  # a progress bar shows the reused run done, not empty
    assert again.steps == 4 and again.losses == first.losses and again.fingerprint == first.fingerprint
    assert weights and [w.stat().st_mtime_ns for w in weights] == stamps
    # more steps under the same run name: resumes from the last checkpoint instead of starting over
    model2, tok2 = _tiny(tmp_path)
    longer = TrainConfig(**{**config.__dict__, "max_steps": 6})
    second = run_training(longer, tmp_path, model=model2, tokenizer=tok2)
    assert second.resumed_from == "checkpoint-4" and second.steps == 6
    assert [s for s, _ in second.losses] == [5, 6]


def test_a_finished_run_keeping_no_checkpoints_leaves_its_model_and_retrains_from_step_0(tmp_path: Path) -> None:
    """keep_checkpoints=0 (what a loop asks for): the run's folder holds the final model and summary only;
    the setting does not change what the model is (a rerun reuses it), and more steps start over."""
    data = _records(tmp_path / "train.jsonl")
    model, tok = _tiny(tmp_path)
    config = TrainConfig(run_name="lean", dataset=None, train_file=str(data), max_steps=4, save_steps=2,
                         logging_steps=1, per_device_train_batch_size=4, keep_checkpoints=0)
    first = run_training(config, tmp_path, model=model, tokenizer=tok)
    run_dir = tmp_path / "runs" / "train" / "lean"
    assert first.steps == 4 and not list(run_dir.glob("checkpoint-*"))
    assert (Path(first.model_dir) / "config.json").is_file() and (run_dir / "summary.json").is_file()
    kept = TrainConfig(**{**config.__dict__, "keep_checkpoints": 1})
    assert run_training(kept, tmp_path, model=model, tokenizer=tok).reused
    model2, tok2 = _tiny(tmp_path)
    longer = run_training(TrainConfig(**{**config.__dict__, "max_steps": 5}), tmp_path, model=model2, tokenizer=tok2)
    assert longer.resumed_from is None and longer.steps == 5 and [s for s, _ in longer.losses] == [1, 2, 3, 4, 5]
    with pytest.raises(ConfigError, match="keep_checkpoints"):
        TrainConfig(run_name="x", dataset=None, train_file=str(data), keep_checkpoints=-1)


def test_padding_free_batches_train_like_padded_ones_and_count_real_tokens(tmp_path: Path) -> None:
    """Records of very different lengths: the padding-free run follows the padded run's loss curve step
    for step, trains on the same real tokens, and processes no padding (the padded run does)."""
    words = ["tax", "price", "demand", "supply", "wages", "profit"]
    lines = [json.dumps({"messages": [
        {"role": "user", "content": "What does " + " and ".join(words[: 1 + i % 6]) + " increase ?"},
        {"role": "assistant", "content": " ".join(["price"] * (1 + (i * 5) % 9)) + " ."}]}) for i in range(16)]
    data = tmp_path / "varied.jsonl"
    data.write_text("\n".join(lines) + "\n")
    runs = {}
    for batching in ("padded", "padding_free"):
        model, tok = _tiny(tmp_path)
        runs[batching] = run_training(TrainConfig(run_name=batching, dataset=None, train_file=str(data), max_steps=4,
                                                  save_steps=10, logging_steps=1, per_device_train_batch_size=4,
                                                  learning_rate=1e-2, batching=batching), tmp_path,
                                      model=model, tokenizer=tok)
    padded, free = runs["padded"], runs["padding_free"]
    assert [s for s, _ in free.losses] == [s for s, _ in padded.losses] == [1, 2, 3, 4]
    for (_, a), (_, b) in zip(free.losses, padded.losses, strict=True):
        assert a == pytest.approx(b, rel=1e-3)
    assert free.real_tokens == padded.real_tokens > 0
    assert padded.train_tokens > padded.real_tokens  # padding was processed and is now told apart
    assert free.train_tokens == free.real_tokens and free.real_tokens_per_s > 0
    stored = json.loads((Path(free.run_dir) / "summary.json").read_text())
    assert stored["real_tokens"] == free.real_tokens


def test_profiled_steps_say_where_a_step_goes(tmp_path: Path) -> None:
    """``profile_steps``: the operators of the steps after the first are written to the run's profile.txt,
    which the summary names; without it nothing is profiled."""
    data = tmp_path / "tiny.jsonl"
    data.write_text("\n".join(json.dumps({"messages": [{"role": "user", "content": f"What does tax {i} raise ?"},
                                                        {"role": "assistant", "content": "price ."}]})
                                for i in range(8)) + "\n")
    model, tok = _tiny(tmp_path)
    s = run_training(TrainConfig(run_name="profiled", dataset=None, train_file=str(data), max_steps=4, save_steps=10,
                                 per_device_train_batch_size=2, profile_steps=2), tmp_path, model=model, tokenizer=tok)
    assert s.profile == str(Path(s.run_dir) / "profile.txt")
    table = Path(s.profile).read_text()
    assert "Self CPU" in table and "aten::" in table
    model, tok = _tiny(tmp_path)
    plain = run_training(TrainConfig(run_name="plain", dataset=None, train_file=str(data), max_steps=2, save_steps=10,
                                     per_device_train_batch_size=2), tmp_path, model=model, tokenizer=tok)
    assert plain.profile is None and not (Path(plain.run_dir) / "profile.txt").exists()
    with pytest.raises(ConfigError, match="profile_steps"):
        TrainConfig(run_name="x", dataset=None, train_file=str(data), profile_steps=-1)


def test_plain_prompt_format_trains_in_the_evaluation_layout(tmp_path: Path) -> None:
    """``prompt_format=plain``: records become the evaluation's own context and continuation (no chat
    template), the loss stays on the answer, and the model learns it there."""
    data = _records(tmp_path / "train.jsonl")
    assert TrainConfig().prompt_format == "plain"  # V1's recipe, chosen on dev
    plain = load_records(TrainConfig(dataset=None, train_file=str(data)), None)
    assert plain[0] == {"prompt": mc_context("What does tax 0 increase ?"), "completion": " tax increases price ."}
    chat = load_records(TrainConfig(dataset=None, train_file=str(data), prompt_format="chat"), None)
    assert chat[0]["prompt"] == [{"role": "user", "content": "What does tax 0 increase ?"}]
    model, tok = _tiny(tmp_path)
    summary = run_training(TrainConfig(run_name="plain", dataset=None, train_file=str(data), max_steps=4,
                                       save_steps=10, logging_steps=1, per_device_train_batch_size=4,
                                       learning_rate=1e-2, prompt_format="plain"), tmp_path, model=model, tokenizer=tok)
    assert summary.steps == 4 and summary.losses[-1][1] < summary.losses[0][1]


def test_lora_from_a_graph_dataset(falkordb_store: GraphStore, tmp_path: Path) -> None:
    builder_graph(falkordb_store)
    build_examples(falkordb_store, BuildConfig(dataset="tiny", families=FAMILIES[:5]))
    model, tok = _tiny(tmp_path)
    # the chat template's path, on sentence-long examples
    config = TrainConfig(run_name="lora", dataset="tiny", method="lora", lora_r=4, lora_alpha=8, max_steps=2,
                         save_steps=10, logging_steps=1, per_device_train_batch_size=4, max_length=256,
                         prompt_format="chat")
    summary = run_training(config, tmp_path, store=falkordb_store, model=model, tokenizer=tok)
    assert summary.records == 16 and summary.steps == 2
    merged = transformers.AutoModelForCausalLM.from_pretrained(summary.model_dir)  # adapters merged: plain model
    assert not any("lora" in name for name, _ in merged.named_parameters())


def test_bad_input_and_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="method"):
        TrainConfig(method="qlora")
    with pytest.raises(ConfigError, match="dataset"):
        TrainConfig(dataset=None)
    with pytest.raises(ConfigError, match="batching 'packed'"):
        TrainConfig(batching="packed")
    with pytest.raises(ConfigError, match="prompt_format 'alpaca'"):
        TrainConfig(prompt_format="alpaca")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    model, tok = _tiny(tmp_path)
    with pytest.raises(InputError, match=r"bad.jsonl:1: .*assistant"):
        run_training(TrainConfig(dataset=None, train_file=str(bad)), tmp_path, model=model, tokenizer=tok)


def test_a_killed_training_job_resumes_from_its_last_complete_checkpoint(tmp_path: Path) -> None:
    """SIGKILL a training process (no chance to clean up) once checkpoints exist; the same run name then
    resumes from the newest checkpoint that was written completely, not from step 0."""
    data = _records(tmp_path / "train.jsonl")
    folder = tiny_model(tmp_path / "tiny")
    fields = dict(run_name="killed", dataset=None, train_file=str(data), base_model=str(folder), save_steps=2,
                  logging_steps=1, per_device_train_batch_size=2, save_total_limit=3)
    script = ("from pathlib import Path\nfrom proda.training.sft import TrainConfig, run_training\n"
              f"run_training(TrainConfig(max_steps=100000, **{fields!r}), Path({str(tmp_path)!r}))\n")
    run_dir = tmp_path / "runs" / "train" / "killed"
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        # any complete checkpoint past step 4: training is fast enough that save_total_limit may already have
        # rotated checkpoint-4 itself away between two looks
        def second_checkpoint() -> bool:
            return any(int(p.name.split("-")[1]) >= 4 and (p / "trainer_state.json").exists()
                       for p in run_dir.glob("checkpoint-*"))

        while not second_checkpoint():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else "training died"
            assert time.monotonic() < deadline, "no second checkpoint within 180 s"
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
    complete = max(int(p.name.split("-")[1]) for p in run_dir.glob("checkpoint-*")
                   if (p / "trainer_state.json").exists())
    assert complete >= 4
    summary = run_training(TrainConfig(max_steps=complete + 2, **fields), tmp_path)  # type: ignore[arg-type]
    assert summary.resumed_from == f"checkpoint-{complete}" and summary.steps == complete + 2
    assert [s for s, _ in summary.losses] == [complete + 1, complete + 2]


def test_a_model_path_that_does_not_exist_is_named(tmp_path: Path) -> None:
    data = _records(tmp_path / "train.jsonl")
    missing = tmp_path / "no-such-model"
    with pytest.raises(InputError, match="no-such-model"):
        run_training(TrainConfig(dataset=None, train_file=str(data), base_model=str(missing)), tmp_path)


def test_a_recipe_with_an_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"r.yaml: unknown key.*learning_rat;"):
        TrainConfig.from_dict({"learning_rat": 1e-4}, source="r.yaml")


def test_loading_a_model_fetches_no_hub_kernels_unless_the_environment_asks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU transformers swaps in layer kernels downloaded from the Hub by default; a run on a machine
    without a network failed on that. Loading turns it off, and an explicit choice in the environment stays."""
    import os

    from proda.training.base_model import load_model

    folder = tiny_model(tmp_path / "tiny")
    monkeypatch.delenv("USE_HUB_KERNELS", raising=False)
    model, _ = load_model(str(folder), tmp_path / "home")
    assert os.environ["USE_HUB_KERNELS"] == "NO" and model.use_kernels is False
    monkeypatch.setenv("USE_HUB_KERNELS", "YES")
    load_model(str(folder), tmp_path / "home")
    assert os.environ["USE_HUB_KERNELS"] == "YES"
