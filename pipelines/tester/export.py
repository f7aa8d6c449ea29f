"""``proda bench export``: the stored benchmark as JSONL, a Hugging Face dataset, or an lm-eval task.

Every format keeps each item's ``id``, so a model's answers map back to the item node and from there
to its chain, relations, concepts and source chunks. Splits: ``test`` and ``validation`` (dev chains).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from proda.errors import DependencyMissing, InputError, NotFound
from proda.pipelines.tester.model import BenchmarkItemRecord
from proda.schema.store.base import GraphStore

FORMATS = ("jsonl", "hf", "lm-eval")
HF_SPLIT = {"test": "test", "dev": "validation"}


def load_items(store: GraphStore, benchmark: str, discipline: str | None = None) -> list[BenchmarkItemRecord]:
    """The benchmark's items, ordered by id; raises :class:`NotFound` if it has none."""
    rows = store.query("bench_items", {"benchmark": benchmark, "discipline": discipline})
    if not rows:
        where = f" in discipline {discipline!r}" if discipline else ""
        raise NotFound(f"benchmark {benchmark!r} has no items{where}: run `proda bench build --name {benchmark}`")
    items = []
    for r in rows:
        try:
            items.append(BenchmarkItemRecord.model_validate_json(r["record"] or ""))
        except ValidationError as e:
            raise InputError(f"stored record does not validate ({e.errors()[0]['msg']}); run `proda bench check`",
                             source=f"item {r['id']}") from e
    return items


def flat(rec: BenchmarkItemRecord) -> dict[str, Any]:
    """One export row: the item with its options as a list of plain maps (a parquet struct column)."""
    row: dict[str, Any] = rec.model_dump(mode="json")
    row["split"] = HF_SPLIT[rec.split]
    return row


def write_jsonl(items: Sequence[BenchmarkItemRecord], out: Path) -> list[Path]:
    """``out/<benchmark>.jsonl``, one item per line."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{items[0].benchmark}.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for rec in items:
            f.write(json.dumps(flat(rec), ensure_ascii=False) + "\n")
    return [path]


def _by_split(items: Sequence[BenchmarkItemRecord]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in items:
        out.setdefault(HF_SPLIT[rec.split], []).append(flat(rec))
    return out


def write_hf(items: Sequence[BenchmarkItemRecord], out: Path) -> list[Path]:
    """A dataset repository on disk: ``data/<split>-00000-of-00001.parquet`` plus a README whose card
    declares the splits, so ``datasets.load_dataset(str(out))`` loads it (and it can be pushed as is)."""
    try:
        # imported by name: datasets ships no type information, and it is an optional extra
        datasets = importlib.import_module("datasets")
    except ImportError as e:
        raise DependencyMissing("datasets", extra="bench", why="for --format hf") from e
    out.mkdir(parents=True, exist_ok=True)
    written = []
    config = []
    for split, rows in sorted(_by_split(items).items()):
        path = out / "data" / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_list(rows).to_parquet(str(path))
        written.append(path)
        config.append(f"  - split: {split}\n    path: data/{split}-*.parquet")
    name = items[0].benchmark
    card = out / "README.md"
    card.write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n" + "\n".join(config) + "\n---\n"
        f"# {name}: a ProDa benchmark\n\nMultiple-choice items built from held-out L3 reasoning chains of a "
        "knowledge graph; the distractors come from the graph (INVREL, TRUNC, NEARMISS) and are proven wrong "
        "in it. `id` maps each item back to its `(:BenchmarkItem)` node; `options[].via` lists the graph "
        "elements each option came from.\n", encoding="utf-8")
    return [*written, card]


def task_name(benchmark: str) -> str:
    """The lm-eval task name of a benchmark."""
    return "proda_" + re.sub(r"[^a-z0-9_]", "_", benchmark.lower())


_LM_EVAL_UTILS = '''"""Loads this task's data from the files beside this module (written by `proda bench export`).

lm-eval resolves relative data paths against the working directory, so the task loads its data here,
relative to its own folder: the exported folder can be moved or copied and still loads as is.
"""

from pathlib import Path

import datasets

HERE = Path(__file__).resolve().parent


def load(**_kwargs):
    files = {split: str(HERE / f"{split}.jsonl") for split in SPLITS if (HERE / f"{split}.jsonl").is_file()}
    return datasets.load_dataset("json", data_files=files)


SPLITS = ("test", "validation")
'''


def write_lm_eval(items: Sequence[BenchmarkItemRecord], out: Path) -> list[Path]:
    """An lm-evaluation-harness task folder: ``<task>.yaml``, ``utils.py`` and one JSONL per split.

    ``lm_eval --tasks <task> --include_path <out>`` loads it as is: ``output_type: multiple_choice``,
    the question as context, the options as choices, ``answer_index`` as the target.
    """
    out.mkdir(parents=True, exist_ok=True)
    splits = _by_split(items)
    written = []
    for split, rows in sorted(splits.items()):
        path = out / f"{split}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        written.append(path)
    name = task_name(items[0].benchmark)
    utils = out / "utils.py"
    utils.write_text(_LM_EVAL_UTILS, encoding="utf-8")
    lines = [
        f"task: {name}",
        "custom_dataset: !function utils.load",
        "output_type: multiple_choice",
        "test_split: test" if "test" in splits else "test_split: validation",
    ]
    if "validation" in splits and "test" in splits:
        lines.append("validation_split: validation")
    lines += [
        'doc_to_text: "Question: {{question}}\\nAnswer:"',
        "doc_to_choice: choices",
        "doc_to_target: answer_index",
        "metric_list:",
        "  - metric: acc",
        "    aggregation: mean",
        "    higher_is_better: true",
        "  - metric: acc_norm",
        "    aggregation: mean",
        "    higher_is_better: true",
        "metadata:",
        "  version: 1.0",
        f"  benchmark: {items[0].benchmark}",
    ]
    yaml_path = out / f"{name}.yaml"
    yaml_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [yaml_path, utils, *written]


def export(items: Sequence[BenchmarkItemRecord], fmt: str, out: Path) -> list[Path]:
    """Write ``items`` in ``fmt`` (jsonl, hf, lm-eval) under ``out``; returns the files written."""
    if not items:
        raise InputError("nothing to export: no items")
    if fmt == "jsonl":
        return write_jsonl(items, out)
    if fmt == "hf":
        return write_hf(items, out)
    if fmt == "lm-eval":
        return write_lm_eval(items, out)
    raise InputError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
