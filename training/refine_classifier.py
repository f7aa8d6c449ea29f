"""Line-classifier training: the head of :mod:`proda.pipelines.refine.classifier` on distilled programs.

One :class:`RefineClassifierConfig` (every field has help; defaults < YAML recipe < flags) and one
function, :func:`train_refine_classifier`. The data are documents with the program an expert's
refinement was distilled into (``documents.jsonl`` written by ``proda refine distill``): a line the
program removes is boilerplate, every other non-blank line content. Nothing else is read: no gold
annotation, no page list. The encoder is the shipped all-MiniLM-L6-v2, frozen; only the small head
is trained (a few seconds to minutes on one core).

torch, transformers and the encoder wheel are imported inside the functions, so ``--help`` stays
instant and the rest of ProDa works without the ``web`` extra.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from proda.errors import ConfigError, InputError
from proda.pipelines.refine.classifier import (
    ENCODERS,
    ClassifierSpec,
    LineClassifier,
    build_head,
    document_features,
    make_encoder,
)
from proda.pipelines.refine.config import check_favour
from proda.pipelines.refine.interpreter import execute
from proda.pipelines.refine.line_features import FEATURES
from proda.pipelines.refine.program import ProgramError, parse_program
from proda.recipes import FromRecipe


@dataclass
class RefineClassifierConfig(FromRecipe):
    """What ``proda refine train-classifier`` does. Every field has help; defaults < recipe < flags."""

    documents: tuple[str, ...] = field(default=(), metadata={
        "help": "JSONL files of documents with their distilled program (documents.jsonl from `proda refine "
                "distill`: id, text, program, expert)"})
    output_dir: str = field(default="", metadata={
        "help": "where the classifier folder is written (default: $PRODA_HOME/models/refine-classifier)"})
    encoder: str = field(default="static", metadata={
        "help": "static (MiniLM token vectors averaged per line: fast) or full (MiniLM on every line: slow)"})
    epochs: int = field(default=15, metadata={"help": "passes over the documents"})
    learning_rate: float = field(default=2e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=1e-2, metadata={"help": "AdamW weight decay"})
    max_lines: int = field(default=512, metadata={
        "help": "lines per training step: a longer document is cut into a random window of this many"})
    threshold: float = field(default=0.35, metadata={
        "help": "keep a line whose content probability reaches this (stored with the model; 0.35 was best on the "
                "dev half of real pages for distilled pages alone, 0.55 with as many synthetic pages beside them)"})
    projection_dim: int = field(default=32, metadata={"help": "encoder vectors are projected to this many dims"})
    channels: int = field(default=64, metadata={"help": "channels of the head's convolutions"})
    full_vocabulary: bool = field(default=True, metadata={
        "help": "static encoder: compute every vocabulary token's vector now (about 30 s, cached) instead of on "
                "first use"})
    members: int = field(default=5, metadata={
        "help": "heads trained from seeds seed, seed+1, ... whose probabilities are averaged (1: a single head)"})
    markup_dropout: float = field(default=0.25, metadata={
        "help": "share of training steps on a web page that hide its markup features, so the model also "
                "decides well on text without HTML"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation and data order"})
    expert: str = field(default="balanced", metadata={
        "help": "trafilatura operating point kept beside the classifier on web pages (recall, balanced, precision): "
                "a line is kept when the expert keeps it or the classifier is confident; '' for the classifier "
                "alone (balanced at 0.85 was chosen on the dev half of real pages)"})
    expert_threshold: float = field(default=0.85, metadata={
        "help": "with an expert, a line it drops is kept when the classifier's content probability reaches this "
                "(chosen on the dev half of real pages)"})

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ConfigError(f"unknown encoder {self.encoder!r}: use one of {', '.join(ENCODERS)}")
        if self.epochs < 1 or self.max_lines < 8 or self.learning_rate <= 0:
            raise ConfigError("epochs must be >= 1, max_lines >= 8 and learning_rate > 0")
        if not 0 < self.threshold < 1:
            raise ConfigError("threshold is a probability strictly between 0 and 1")
        if self.members < 1:
            raise ConfigError("members must be >= 1")
        if not 0 <= self.markup_dropout < 1:
            raise ConfigError("markup_dropout is a share in [0, 1)")
        self.expert = check_favour(self.expert, what="expert operating point", empty="the classifier alone")
        if not 0 < self.expert_threshold <= 1:
            raise ConfigError("expert_threshold is a probability in (0, 1]")


@dataclass
class ClassifierTrainReport:
    """What a training run did: where the model went, documents and lines used, losses, time."""

    output_dir: str
    documents: int
    lines: int
    removed_share: float
    losses: list[float]
    seconds: float
    experts: dict[str, int]
    skipped: dict[str, int]


@dataclass
class LabelledDocument:
    """A document's lines and, per line, 1 (content) or 0 (removed by the expert's program); ``html``
    is the page the lines came from, when they came from one."""

    id: str
    lines: list[str]
    labels: list[int]
    html: str | None = None


def read_documents(paths: list[Path]) -> tuple[list[LabelledDocument], dict[str, int], dict[str, int]]:
    """Labelled documents from ``documents.jsonl`` files, with counts by expert and skipped records by reason.

    Raises InputError for a missing file. A record without text or with a program outside the
    language is skipped and counted, not fatal.
    """
    docs: list[LabelledDocument] = []
    experts: dict[str, int] = {}
    skipped: dict[str, int] = {}
    for path in paths:
        if not path.is_file():
            raise InputError("no such file", source=str(path))
        with path.open(encoding="utf-8") as f:
            for lineno, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                    text, program = record["text"], parse_program(record["program"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    skipped["malformed_record"] = skipped.get("malformed_record", 0) + 1
                    continue
                except ProgramError:
                    skipped["malformed_program"] = skipped.get("malformed_program", 0) + 1
                    continue
                if not isinstance(text, str) or not text.strip():
                    skipped["empty"] = skipped.get("empty", 0) + 1
                    continue
                gone = set(execute(program, text).removed_lines)
                lines = text.split("\n")
                html = record.get("html")
                docs.append(LabelledDocument(str(record.get("id", f"{path.name}:{lineno}")), lines,
                                             [0 if i in gone else 1 for i in range(len(lines))],
                                             html if isinstance(html, str) else None))
                expert = str(record.get("expert") or "unknown")
                experts[expert] = experts.get(expert, 0) + 1
    return docs, experts, skipped


def train_refine_classifier(config: RefineClassifierConfig, home: Path) -> ClassifierTrainReport:
    """Train the line classifier's head on ``config.documents`` and save it; returns the report.

    Raises InputError when there is nothing to train on, DependencyMissing without torch or the
    encoder wheel (``pip install 'proda[web]'``).
    """
    import torch

    docs, experts, skipped = read_documents([Path(p) for p in config.documents])
    usable = [d for d in docs if any(line.strip() for line in d.lines)]
    if not usable:
        raise InputError("no document to train on (need documents.jsonl records with text and program)",
                         source=",".join(config.documents))
    started = time.monotonic()
    encoder = make_encoder(config.encoder, home)
    if config.full_vocabulary and hasattr(encoder, "fill_vocabulary"):
        encoder.fill_vocabulary()
    spec = ClassifierSpec(encoder=config.encoder, projection_dim=config.projection_dim, channels=config.channels,
                          threshold=config.threshold, members=config.members, expert=config.expert,
                          expert_threshold=config.expert_threshold)
    tensors = []
    for d in usable:
        mask = torch.as_tensor([bool(line.strip()) for line in d.lines])
        tensors.append((torch.as_tensor(document_features(d.lines, d.html)), torch.as_tensor(encoder.encode(d.lines)),
                        torch.as_tensor(d.labels, dtype=torch.float32), mask, d.html is not None))
    encoder.save()
    mean = torch.cat([v[m] for _, v, _, m, _ in tensors]).mean(0)  # the non-blank lines' mean vector
    heads, member_losses = [], []
    for k in range(config.members):
        head, head_losses = _train_head(spec, mean, tensors, config, config.seed + k)
        heads.append(head)
        member_losses.append(head_losses)
    losses = [round(sum(epoch) / len(epoch), 5) for epoch in zip(*member_losses, strict=True)]
    labelled = [(label, line) for d in usable for label, line in zip(d.labels, d.lines, strict=True) if line.strip()]
    removed_share = sum(1 for label, _ in labelled if label == 0) / max(len(labelled), 1)
    spec.training = {"documents": len(usable), "lines": len(labelled), "experts": experts, "epochs": config.epochs,
                     "learning_rate": config.learning_rate, "seed": config.seed, "members": config.members,
                     "markup_dropout": config.markup_dropout,
                     "with_markup": sum(1 for d in usable if d.html is not None),
                     "sources": [Path(p).name for p in config.documents]}
    out = Path(config.output_dir) if config.output_dir else home / "models" / "refine-classifier"
    LineClassifier(spec, heads, encoder).save(out)
    return ClassifierTrainReport(output_dir=str(out), documents=len(usable), lines=len(labelled),
                                 removed_share=round(removed_share, 4), losses=losses,
                                 seconds=round(time.monotonic() - started, 1), experts=experts, skipped=skipped)


def _train_head(spec: ClassifierSpec, mean: Any, tensors: list[Any], config: RefineClassifierConfig,
                seed: int) -> tuple[Any, list[float]]:
    """One head trained on ``tensors`` (features, vectors, labels, non-blank mask, has markup) from
    ``seed``, centred on ``mean`` (the training lines' mean vector); returns it (in eval mode) and its
    mean loss per epoch."""
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    head = build_head(spec, len(mean))
    head.mean.copy_(mean)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    losses: list[float] = []
    head.train()
    for _ in range(config.epochs):
        order = list(range(len(tensors)))
        rng.shuffle(order)
        total = 0.0
        for k in order:
            feats, vectors, labels, mask, has_markup = tensors[k]
            n = len(labels)
            lo = rng.randrange(0, n - config.max_lines + 1) if n > config.max_lines else 0
            hi = lo + min(n, config.max_lines)
            if not bool(mask[lo:hi].any()):
                continue
            window = feats[None, lo:hi]
            if has_markup and rng.random() < config.markup_dropout:
                window = window.clone()
                window[..., len(FEATURES):] = 0.0  # as the page would look without its HTML
            logits = head(window, vectors[None, lo:hi])[0]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[mask[lo:hi]], labels[lo:hi][mask[lo:hi]])
            optimizer.zero_grad()
            cast(Any, loss).backward()  # torch's autograd entry point is untyped
            optimizer.step()
            total += loss.item()
        losses.append(round(total / len(tensors), 5))
    return head.eval(), losses


def report_dict(report: ClassifierTrainReport) -> dict[str, Any]:
    """The report as a JSON-ready mapping."""
    return asdict(report)


def label_arrays(doc: LabelledDocument) -> tuple[np.ndarray, np.ndarray]:
    """(labels, non-blank mask) of a document as arrays (for evaluation scripts)."""
    return np.asarray(doc.labels), np.asarray([bool(line.strip()) for line in doc.lines])
