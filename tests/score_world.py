"""A tiny gold set for scoring tests: a pool of five made-up chunks, their annotations, a scripted extractor.

The texts are written for the tests (not corpus text). Two disciplines, both splits, one chunk that
states nothing (an empty annotation); every gold step's evidence is a verbatim span of its chunk.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from proda.pipelines.extract.model import ChunkExtraction, ChunkInput

BUILD_GOLD = Path(__file__).resolve().parents[1] / "data" / "gold" / "build_gold.py"


def load_build_gold() -> ModuleType:
    """``data/gold/build_gold.py`` as a module: a script beside its data, not part of an importable package."""
    name = "proda_data_gold_build"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BUILD_GOLD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic and dataclasses resolve the module's annotations through it
    spec.loader.exec_module(module)
    return module


E1 = ("Higher interest rates reduce investment. Lower investment lowers aggregate demand. "
      "Inflation differs from deflation.")
E2 = "A market economy consists of households and firms. A recession follows an expansion."
E3 = "This section lists exercises for the chapter."
C1 = "A compiler is a kind of translator. Source code is used for writing programs."
C2 = "A loop body is part of a loop. The loop expression comes before the loop body."

POOL: list[dict[str, Any]] = [
    {"key": "computer_science/m1#0", "split": "dev", "discipline": "computer_science",
     "source_id": "computer_science/m1", "ordinal": 0, "book": "Made-up Programming", "title": "Compilers",
     "section": "Translation", "text": C1},
    {"key": "computer_science/m2#3", "split": "test", "discipline": "computer_science",
     "source_id": "computer_science/m2", "ordinal": 3, "book": "Made-up Programming", "title": "Loops", "text": C2},
    {"key": "economics/m1#0", "split": "dev", "discipline": "economics", "source_id": "economics/m1", "ordinal": 0,
     "book": "Made-up Economics", "title": "Demand", "text": E1},
    {"key": "economics/m2#1", "split": "test", "discipline": "economics", "source_id": "economics/m2", "ordinal": 1,
     "book": "Made-up Economics", "title": "Markets", "text": E2},
    {"key": "economics/m3#2", "split": "dev", "discipline": "economics", "source_id": "economics/m3", "ordinal": 2,
     "book": "Made-up Economics", "title": "Exercises", "text": E3},
]


def step(subject: str, relation: str, obj: str, evidence: str) -> dict[str, str]:
    return {"subject": subject, "relation": relation, "object": obj, "evidence": evidence}


def chain(*steps: dict[str, str], summary: str = "") -> dict[str, Any]:
    return {"steps": list(steps), "summary": summary}


PARTS = "A market economy consists of households and firms"
ANNOTATIONS: dict[str, list[dict[str, Any]]] = {
    "economics": [
        {"key": "economics/m1#0", "chains": [
            chain(step("interest rates", "decreases", "investment", "Higher interest rates reduce investment"),
                  step("investment", "increases", "aggregate demand", "Lower investment lowers aggregate demand"),
                  summary="Higher interest rates lower aggregate demand through investment."),
            chain(step("inflation", "contrasts_with", "deflation", "Inflation differs from deflation"))]},
        {"key": "economics/m2#1", "chains": [
            chain(step("market economy", "has_part", "households", PARTS)),
            chain(step("market economy", "has_part", "firms", PARTS)),
            chain(step("recession", "follows", "expansion", "A recession follows an expansion"))]},
        {"key": "economics/m3#2", "chains": [], "notes": "an exercise list: no relation"},
    ],
    "computer_science": [
        {"key": "computer_science/m1#0", "chains": [
            chain(step("compiler", "is_a", "translator", "A compiler is a kind of translator")),
            chain(step("source code", "used_for", "writing programs", "Source code is used for writing programs"))]},
        {"key": "computer_science/m2#3", "chains": [
            chain(step("loop expression", "precedes", "loop body", "The loop expression comes before the loop body"),
                  step("loop body", "part_of", "loop", "A loop body is part of a loop"))]},
    ],
}


def write_world(root: Path, annotations: dict[str, list[dict[str, Any]]] | None = None) -> tuple[Path, Path]:
    """Write ``pool.jsonl`` and ``annotations/<discipline>.jsonl`` under ``root``; returns (pool, annotations dir)."""
    pool = root / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in POOL))
    folder = root / "annotations"
    folder.mkdir(exist_ok=True)
    for discipline, lines in (ANNOTATIONS if annotations is None else annotations).items():
        (folder / f"{discipline}.jsonl").write_text("".join(json.dumps(a) + "\n" for a in lines))
    return pool, folder


@dataclass
class ScriptedExtractor:
    """An extractor answering from a script keyed by chunk text; a scripted exception is raised."""

    script: dict[str, ChunkExtraction | Exception] = field(default_factory=dict)
    name: str = "scripted"
    model: str | None = None
    prompt_version: str = "test-v1"
    seen: list[str] = field(default_factory=list)

    def extract(self, chunk: ChunkInput) -> ChunkExtraction:
        self.seen.append(chunk.chunk_id)
        answer = self.script.get(chunk.text, ChunkExtraction())
        if isinstance(answer, Exception):
            raise answer
        return answer


def extraction(*chains: list[tuple[str, str, str, str]]) -> ChunkExtraction:
    """A ChunkExtraction from chains of (subject, relation, object, evidence) tuples."""
    return ChunkExtraction.model_validate({"chains": [
        {"steps": [step(*s) for s in c], "summary": "scripted"} for c in chains]})
