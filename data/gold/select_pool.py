"""Pick the chunks of the extraction gold set from the CC BY corpus file, reproducibly.

Run from the repository root: ``python data/gold/select_pool.py [--corpus FILE]`` (default
``../shared/corpus/openstax-cc-by.jsonl``). Each document is normalised and chunked exactly as
``proda ingest`` does; per discipline, :data:`PER_DISCIPLINE` chunks of at least :data:`MIN_TOKENS`
estimated tokens are drawn with a fixed seed, at most one per document so the set spreads over each
book. Alternate draws go to ``dev`` (for choosing and tuning extractors) and ``test`` (for
reporting). Writes ``pool.jsonl``: one line per chunk with its key (``source_id#ordinal``), split,
discipline, document metadata and verbatim text. Annotators write their chains against these keys
(``annotations/<discipline>.jsonl``); ``build_gold.py`` turns both into the load-format gold files.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from proda.pipelines.ingest.chunking import chunk_text
from proda.pipelines.ingest.normalise import normalise_text
from proda.schema.ids import content_hash

HERE = Path(__file__).parent
DEFAULT_CORPUS = HERE.parents[2] / "shared" / "corpus" / "openstax-cc-by.jsonl"
PER_DISCIPLINE = 28
MIN_TOKENS = 120
SEED = 20261202


def select(corpus: Path) -> list[dict[str, Any]]:
    by_discipline: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with corpus.open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            if "CC BY" not in doc.get("license", "") and "Attribution 4.0" not in doc.get("license", ""):
                continue
            text = normalise_text(doc["text"])
            spans = [s for s in chunk_text(text) if s.n_tokens >= MIN_TOKENS]
            by_discipline[doc["discipline"]].append({"doc": doc, "spans": spans, "hash": content_hash(text)})
    rng = random.Random(SEED)
    pool = []
    for discipline in sorted(by_discipline):
        docs = [d for d in by_discipline[discipline] if d["spans"]]
        rng.shuffle(docs)
        for i, d in enumerate(docs[:PER_DISCIPLINE]):
            span = rng.choice(d["spans"])
            doc = d["doc"]
            pool.append({
                "key": f"{doc['id']}#{span.ordinal}", "split": "dev" if i % 2 == 0 else "test",
                "discipline": discipline, "source_id": doc["id"], "ordinal": span.ordinal,
                "book": doc.get("book", ""), "title": doc.get("title", ""), "section": span.section,
                "license": doc.get("license", ""), "source": doc.get("source", ""),
                "document_hash": d["hash"], "text": span.text,
            })
    return pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    pool = select(args.corpus)
    with (HERE / "pool.jsonl").open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in pool)
    print(f"{len(pool)} chunks -> {HERE / 'pool.jsonl'}")


if __name__ == "__main__":
    main()
