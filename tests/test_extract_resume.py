"""An extraction killed with SIGKILL and run again ends with the same graph as one that never stopped.

32 OpenStax modules (tests/fixtures/corpus_e2e.jsonl) are ingested into fresh graphs on the
session's FalkorDB. The reference graph is extracted in one go. Each interrupted graph is extracted
by a separate process that SIGKILLs itself at a fixed point of its writes (so the point is the same
on every machine): right after its first batch is marked done, in the middle of its second batch
(concepts and relations written, chains not, chunks not marked) and after its fourth batch. The
extraction is then run again to completion, and every concept (id, name, aliases), relation (id,
type, ends), chain (id, steps) and their links (mentions, chain steps, source chunks) must equal
the reference.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from proda.pipelines.extract.config import ExtractConfig
from proda.pipelines.extract.stage import run_extraction
from proda.pipelines.ingest import ingest_paths
from proda.schema.store.base import GraphStore
from proda.schema.store.falkordb_store import FalkorDBStore

CORPUS = Path(__file__).parent / "fixtures" / "corpus_e2e.jsonl"
BATCH = 4  # chunks per write batch in the interrupted runs: many batches, many kill points

# Runs the stage in its own process and kills that process (SIGKILL: no cleanup, no finally) right
# after the n-th call of one catalog query.
_KILLED_RUN = """
import json, os, signal, sys
from pathlib import Path
from proda.pipelines.extract.config import ExtractConfig
from proda.pipelines.extract.stage import run_extraction
from proda.schema.store.base import StoreSpec

args = json.loads(sys.stdin.read())
store = StoreSpec(**args["spec"]).open()
seen = 0
query = store.query

def counted(name, params=None, **kw):
    global seen
    rows = query(name, params, **kw)
    if name == args["query"]:
        seen += 1
        if seen == args["nth"]:
            os.kill(os.getpid(), signal.SIGKILL)
    return rows

store.query = counted
run_extraction(store, ExtractConfig(batch_size=args["batch"]), Path(args["home"]))
"""


def _snapshot(store: GraphStore) -> dict[str, Any]:
    """Everything extraction writes, in a comparable form (lists sorted, no connection details)."""

    def rows(cypher: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(json.dumps(v, sort_keys=True) for v in r.values()) for r in store.run(cypher))

    return {
        "concepts": rows("MATCH (c:Concept) RETURN c.id, c.name, c.discipline, c.aliases, c.merged_into"),
        # evidence and chunk included: when several chunks state an element, the last one in queue
        # order must win whatever the batch size and wherever the run was interrupted
        "relations": rows("MATCH (a:Concept)-[r:RELATION]->(b:Concept) "
                          "RETURN r.id, a.id, r.type, b.id, r.evidence, r.chunk_id"),
        "chains": rows("MATCH (ch:Chain) RETURN ch.id, ch.concept_ids, ch.relation_ids, ch.relation_types, "
                       "ch.evidence, ch.chunk_id"),
        "links": rows("MATCH (a)-[e]->(b) WHERE NOT a:Document AND type(e) <> 'RELATION' "
                      "RETURN a.id, type(e), b.id, properties(e)"),
        "pending": rows("MATCH (k:Chunk) WHERE k.extracted_with IS NULL RETURN k.id"),
    }


def _ingested(store: GraphStore) -> GraphStore:
    report = ingest_paths(store, [CORPUS])
    assert report.ok and report.new == 32
    return store


def _pending(store: GraphStore) -> int:
    return int(store.run("MATCH (k:Chunk) WHERE k.extracted_with IS NULL RETURN count(k) AS n")[0]["n"])


@pytest.mark.slow
def test_a_killed_and_resumed_extraction_gives_the_uninterrupted_graph(
        falkordb_store: FalkorDBStore, fresh_graph: Any, tmp_path: Path) -> None:
    reference = _ingested(falkordb_store)
    run_extraction(reference, ExtractConfig(), tmp_path / "reference")  # default batch size: one go
    expected = _snapshot(reference)
    assert expected["concepts"] and expected["chains"] and not expected["pending"]

    kill_points = [("mark_extracted", 1), ("upsert_relations", 2), ("mark_extracted", 4)]
    for query, nth in kill_points:
        store = _ingested(fresh_graph())
        home = tmp_path / f"{query}-{nth}"
        args = {"spec": asdict(store.spec()), "query": query, "nth": nth, "batch": BATCH, "home": str(home)}
        killed = subprocess.run([sys.executable, "-c", _KILLED_RUN], input=json.dumps(args), text=True,
                                capture_output=True, timeout=120, check=False)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        left = _pending(store)
        assert 0 < left < _pending(_ingested(fresh_graph())), (query, nth)  # it stopped part-way
        run_extraction(store, ExtractConfig(batch_size=BATCH), home)
        assert _snapshot(store) == expected, (query, nth)
