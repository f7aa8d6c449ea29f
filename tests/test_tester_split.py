"""The deterministic chain split: a pure function of the chain id, recorded once, never moved."""

from __future__ import annotations

from collections import Counter

import pytest

from proda.errors import ConfigError
from proda.pipelines.tester.config import BenchConfig
from proda.pipelines.tester.split import assign_splits, split_counts, split_of
from proda.schema.ids import chain_id
from proda.schema.store.base import GraphStore
from proda.schema.store.writer import GraphWriter
from tests.graphs import covers
from tests.tester_world import economics


def test_split_is_a_pure_function_of_the_id_with_the_configured_shares() -> None:
    ids = [chain_id([f"rel_{i}"]) for i in range(20_000)]
    splits = [split_of(i, 0.1, 0.15, "salt") for i in ids]
    assert splits == [split_of(i, 0.1, 0.15, "salt") for i in ids]  # deterministic
    shares = Counter(splits)
    assert abs(shares["test"] / len(ids) - 0.10) < 0.01
    assert abs(shares["dev"] / len(ids) - 0.15) < 0.01
    # stable when chains arrive: a chain's split does not depend on which other chains exist
    assert [split_of(i, 0.1, 0.15, "salt") for i in ids[:100]] == splits[:100]
    # another salt is another draw
    assert [split_of(i, 0.1, 0.15, "other") for i in ids] != splits


def test_every_stratum_gets_the_ratio_in_expectation() -> None:
    """The hash ignores discipline and length, so each (discipline, length) stratum is split alike."""
    for stratum in range(4):
        ids = [chain_id([f"s{stratum}_{i}"]) for i in range(5_000)]
        share = sum(split_of(i, 0.2, 0.1, "proda-split-v1") == "test" for i in ids) / len(ids)
        assert abs(share - 0.2) < 0.02, stratum


def test_assign_splits_fills_only_unsplit_chains_and_is_idempotent(store: GraphStore) -> None:
    covers("bench_unsplit_chains", "bench_set_splits", "bench_split_counts")
    w = economics(split=None).load(store)
    cfg = BenchConfig(test_ratio=0.3, dev_ratio=0.3)
    first = assign_splits(store, cfg)
    # chain B was written as train by extraction: it is kept, the other four are drawn
    assert sum(first.assigned.values()) == 4 and first.pinned == 0
    stored = {r["id"]: (r["split"], r["rule"]) for r in store.run(
        "MATCH (ch:Chain) RETURN ch.id AS id, ch.split AS split, ch.split_rule AS rule")}
    for key, ch in w.chains.items():
        if key == "B":
            assert stored[ch.id] == ("train", None)
        else:
            assert stored[ch.id] == (split_of(ch.id, 0.3, 0.3, cfg.split_salt), cfg.split_rule)
    again = assign_splits(store, BenchConfig(test_ratio=0.9, dev_ratio=0.05))  # other ratios change nothing now
    assert sum(again.assigned.values()) == 0
    rows = split_counts(store, "economics")
    assert sum(r["chains"] for r in rows) == 5 and all(r["unsplit"] == 0 for r in rows)
    assert {r["length"] for r in rows} == {1, 2}


def test_reloading_a_chain_keeps_its_split(store: GraphStore) -> None:
    """Re-extraction writes the chain again without a split; the recorded split must survive it."""
    w = economics(split=None).load(store)
    assign_splits(store, BenchConfig())
    before = {r["id"]: r["split"] for r in store.run("MATCH (ch:Chain) RETURN ch.id AS id, ch.split AS split")}
    GraphWriter(store).write(w.elements)  # the same chains again, split None
    after = {r["id"]: r["split"] for r in store.run("MATCH (ch:Chain) RETURN ch.id AS id, ch.split AS split")}
    assert after == before and None not in after.values()


def test_a_cleared_split_comes_back_from_the_item_that_tests_the_chain(store: GraphStore) -> None:
    w = economics(split=None).load(store)
    a = w.chains["A"]
    store.run("MATCH (ch:Chain {id: $id}) CREATE (:BenchmarkItem {id: 'bmi_x', split: 'dev'})-[:TESTS]->(ch)",
              {"id": a.id}, read_only=False)
    report = assign_splits(store, BenchConfig(test_ratio=0.01, dev_ratio=0.01))
    assert report.pinned == 1
    [row] = store.run("MATCH (ch:Chain {id: $id}) RETURN ch.split AS split, ch.split_rule AS rule", {"id": a.id})
    assert row == {"split": "dev", "rule": "pinned-by-benchmark-item"}


@pytest.mark.parametrize(("values", "message"), [
    ({"test_ratio": 0.0}, "split ratios"),
    ({"test_ratio": 0.6, "dev_ratio": 0.4}, "test \\+ dev < 1"),
    ({"splits": ["test", "train"]}, "test and/or dev chains only"),
    ({"name": "Bad Name"}, "benchmark name"),
    ({"max_steps": 7}, "max_steps"),
    ({"per_discipline": 0}, "per_discipline"),
    ({"batch_strategy": "parallel"}, "batch_strategy 'parallel': use one of overlapped, serial"),
    ({"bogus": 1}, "unknown key\\(s\\) bogus"),
])
def test_config_errors_say_how_to_fix_them(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BenchConfig.from_dict(values)


def test_config_from_a_recipe_accepts_splits_as_text_or_list() -> None:
    assert BenchConfig.from_dict({"splits": "test"}).splits == ("test",)
    assert BenchConfig.from_dict({"splits": ["dev", "test"], "seed": 3}).splits == ("dev", "test")
