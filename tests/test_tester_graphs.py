"""The Tester's hand-built world (tests/tester_world.py) loads whole: every chain with its split, and
the merged duplicate pointing at its canonical concept."""

from __future__ import annotations

from proda.schema.store.base import GraphStore
from tests.tester_world import load_economics


def test_the_world_loads_whole(falkordb_store: GraphStore) -> None:
    w = load_economics(falkordb_store)
    rows = falkordb_store.run("MATCH (ch:Chain) RETURN ch.id AS id, ch.split AS split")
    assert {r["id"]: r["split"] for r in rows} == {ch.id: ch.split for ch in w.chains.values()}
    [dup] = falkordb_store.run("MATCH (d:Concept {id: $id}) RETURN d.merged_into AS m", {"id": w.c["excess supply"].id})
    assert dup["m"] == w.c["surplus"].id
