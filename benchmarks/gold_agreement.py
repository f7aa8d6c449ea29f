"""How far two careful annotators agree on the gold set (not a test): the ceiling any extractor is judged under.

A second annotator annotated the dev chunks independently, from the same guidelines and the chunk text
alone (``data/gold/second/*.jsonl``, same format as ``data/gold/annotations/``). This script scores the
second annotator exactly as ``proda extract score`` scores an extractor: the second annotation is
served through the extractor interface and compared with the committed gold by the same matcher
(lenient and strict concept matching, converse and symmetric types). Its precision is the share of one
expert's triples that the other also wrote: an extractor judged against one annotator cannot be
expected to beat it by much.

Run::

    .venv/bin/python benchmarks/gold_agreement.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import percent as pct

from proda.pipelines.extract.model import ChunkExtraction, ChunkInput
from proda.pipelines.extract.score import read_gold, score

GOLD = Path(__file__).resolve().parents[1] / "data" / "gold"


class SecondAnnotator:
    """The second annotation of each chunk, served as an extractor's answer (looked up by chunk text)."""

    name = "second-annotator"
    model = None
    prompt_version = "gold-v1"

    def __init__(self, files: list[Path], pool: Path) -> None:
        texts = {r["key"]: r["text"] for r in map(json.loads, pool.open(encoding="utf-8"))}
        self.by_text: dict[str, ChunkExtraction] = {}
        for f in files:
            for line in f.open(encoding="utf-8"):
                a = json.loads(line)
                self.by_text[texts[a["key"]]] = ChunkExtraction.model_validate({"chains": a["chains"]})

    def extract(self, chunk: ChunkInput) -> ChunkExtraction:
        return self.by_text[chunk.text]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--second", type=Path, default=GOLD / "second", help="folder of the second annotation")
    p.add_argument("--gold", type=Path, default=GOLD / "dev.jsonl")
    a = p.parse_args(argv)
    second = SecondAnnotator(sorted(a.second.glob("*.jsonl")), GOLD / "pool.jsonl")
    chunks = [g for g in read_gold(a.gold) if g.chunk.text in second.by_text]
    report = score(chunks, second, gold_path=str(a.gold))
    print(f"second annotator vs gold on {len(chunks)} chunks of {a.gold.name}")
    print(f"{'discipline':<20}{'gold':>6}{'second':>8}{'match':>7}{'P':>8}{'R':>8}{'F1':>8}{'P str':>8}{'R str':>8}")
    for name, m in [*sorted(report.disciplines.items()), ("(all)", report.overall)]:
        print(f"{name:<20}{m.gold_triples:>6}{m.predicted_triples:>8}{m.matched:>7}{pct(m.precision):>8}"
              f"{pct(m.recall):>8}{pct(m.f1):>8}{pct(m.precision_strict):>8}{pct(m.recall_strict):>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
