"""Exports: JSONL, a Hugging Face dataset on disk, and an lm-eval task loaded by lm-eval's own task loader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from proda.errors import NotFound
from proda.pipelines.tester.build import build_benchmark
from proda.pipelines.tester.config import BenchConfig
from proda.pipelines.tester.export import export, load_items, task_name
from proda.pipelines.tester.model import BenchmarkItemRecord
from proda.schema.store.base import GraphStore
from tests.tester_world import economics


@pytest.fixture
def bench_items(falkordb_store: GraphStore) -> list[BenchmarkItemRecord]:
    """Six items (three test, three dev) from six copies of the economics world."""
    for i in range(6):
        economics(split="test" if i < 3 else "dev", suffix=f"_{i}").load(falkordb_store)
    build_benchmark(falkordb_store, BenchConfig(name="econ"))
    items = load_items(falkordb_store, "econ")
    assert len(items) == 6
    return items


def test_load_items_names_a_missing_benchmark(falkordb_store: GraphStore) -> None:
    with pytest.raises(NotFound, match="benchmark 'nope' has no items: run `proda bench build --name nope`"):
        load_items(falkordb_store, "nope")


def test_jsonl_keeps_every_item_with_its_id_and_provenance(bench_items: list[BenchmarkItemRecord],
                                                           tmp_path: Path) -> None:
    [path] = export(bench_items, "jsonl", tmp_path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["id"] for r in rows] == [i.id for i in bench_items]
    assert {r["split"] for r in rows} == {"test", "validation"}
    first = rows[0]
    assert first["choices"][first["answer_index"]] == first["answer"]
    assert all(o["via"] for o in first["options"]) and {o["operator"] for o in first["options"]} == {
        "ANSWER", "INVREL", "TRUNC", "NEARMISS"}


def test_hf_dataset_loads_with_datasets(bench_items: list[BenchmarkItemRecord], tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    files = export(bench_items, "hf", tmp_path / "hf")
    assert {f.name for f in files} == {"test-00000-of-00001.parquet", "validation-00000-of-00001.parquet",
                                       "README.md"}
    ds = datasets.load_dataset(str(tmp_path / "hf"))
    assert set(ds) == {"test", "validation"} and ds["test"].num_rows == 3 and ds["validation"].num_rows == 3
    row = ds["test"][0]
    by_id = {i.id: i for i in bench_items}
    assert row["choices"] == by_id[row["id"]].choices and row["options"][0]["operator"] in (
        "ANSWER", "INVREL", "TRUNC", "NEARMISS")


def test_lm_eval_task_loads_through_lm_evals_task_loader(bench_items: list[BenchmarkItemRecord], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = pytest.importorskip("lm_eval.tasks")
    export(bench_items, "lm-eval", tmp_path / "exported")
    # the folder is self-contained: moved elsewhere and loaded from another working directory it still works
    moved = tmp_path / "moved"
    shutil.move(str(tmp_path / "exported"), moved)
    monkeypatch.chdir(tmp_path)
    name = task_name("econ")
    manager = tasks.TaskManager(include_path=str(moved), include_defaults=False)
    assert name in manager.all_tasks
    task = manager.load([name])["tasks"][name]
    assert task.OUTPUT_TYPE == "multiple_choice"
    docs = list(task.test_docs())
    assert len(docs) == 3 and len(list(task.validation_docs())) == 3
    by_id = {i.id: i for i in bench_items}
    for doc in docs:
        item = by_id[doc["id"]]
        assert task.doc_to_text(doc) == f"Question: {item.question}\nAnswer:"
        assert task.doc_to_choice(doc) == item.choices
        assert task.doc_to_target(doc) == item.answer_index
