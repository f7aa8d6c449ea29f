"""benchmarks/extract_sample.py and relation_diff.py on its files: a seeded sample of chunks, the
extractor of another checkout, and the difference between two samples."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

pytest.importorskip("spacy")

TEXT = ("Tariffs raise the price of imports. Inflation is a general rise in prices. "
        "The central bank raised interest rates. This reduces borrowing.")


def corpus(path: Path) -> Path:
    rows = [{"id": f"econ/m{i}", "discipline": "economics", "title": "T", "text": TEXT} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sample(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCHMARKS / "extract_sample.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False)


def test_a_sample_from_another_checkout_and_its_difference(tmp_path: Path) -> None:
    # another checkout: the same package folders, reached through links, with its own pyproject
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    for name in ("src", "schema", "services", "pipelines", "training", "data"):
        (checkout / name).symlink_to(ROOT / name, target_is_directory=True)
    files = corpus(tmp_path / "corpus.jsonl")
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    run = sample(files, "--chunks", "2", "--seed", "3", "--out", before, "--source", checkout)
    assert run.returncode == 0, run.stderr
    assert "2 of 3 chunks (seed 3)" in run.stderr
    rows = [json.loads(line) for line in before.read_text(encoding="utf-8").splitlines()]
    assert {(r["subject"], r["type"], r["object"]) for r in rows} >= {("tariffs", "increases", "price of imports")}
    assert {r["chunk"] for r in rows} <= {f"econ/m{i}#0" for i in range(3)}

    # the other side: the same sample with one triple gone and one new, as a changed rule would leave it
    changed = [r for r in rows if r["subject"] != "tariffs"]
    changed.append({**rows[0], "id": "new", "object": "something else"})
    after.write_text("".join(json.dumps(r) + "\n" for r in changed), encoding="utf-8")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import relation_diff
    finally:
        sys.path.remove(str(BENCHMARKS))
    out = tmp_path / "diff.json"
    assert relation_diff.main([str(before), str(after), "--json", str(out)]) == 0
    diff = json.loads(out.read_text(encoding="utf-8"))
    assert {r["subject"] for r in diff["dropped"]} == {"tariffs"}
    assert [r["object"] for r in diff["added"]] == ["something else"]


def test_a_source_that_is_no_checkout_is_refused(tmp_path: Path) -> None:
    run = sample(corpus(tmp_path / "corpus.jsonl"), "--out", tmp_path / "x.jsonl", "--source", tmp_path)
    assert run.returncode != 0
    assert "no ProDa checkout there" in run.stderr
