"""Paired comparison of evaluation runs (training/compare.py): intervals, verdicts, runs read from the graph."""

from __future__ import annotations

import numpy as np
import pytest

from proda.errors import InputError
from proda.schema.store.base import GraphStore
from proda.training.compare import Interval, paired_bootstrap, run_scores, verdict
from tests.graphs import load_toy


def test_a_clear_gain_is_beyond_noise_and_a_coin_flip_is_within_it() -> None:
    rng = np.random.default_rng(0)
    base = (rng.random(400) < 0.5).astype(float)
    better = base.copy()
    better[np.flatnonzero(base == 0)[:80]] = 1.0  # 80 more right answers of 400: +20 points
    noisy = base.copy()
    flip = rng.choice(400, 20, replace=False)
    noisy[flip] = 1.0 - noisy[flip]  # as many answers changed either way
    result = paired_bootstrap({"a": base, "b": better, "c": noisy}, [("b", "a"), ("c", "a")], resamples=2000)
    assert result["b-a"].mean == pytest.approx(0.2) and result["b-a"].lo > 0.15 and not result["b-a"].within_noise
    assert result["c-a"].within_noise and result["a"].lo < result["a"].mean < result["a"].hi
    assert "better beyond noise" in verdict("b - a", result["b-a"])
    assert "within noise" in verdict("c - a", result["c-a"])
    assert "worse" in verdict("a - b", Interval(-0.2, -0.25, -0.15))
    # the same seed gives the same interval; pairs must name scored runs and runs must align
    assert paired_bootstrap({"a": base, "b": better}, [("b", "a")], resamples=2000)["b-a"] == result["b-a"]
    with pytest.raises(ValueError, match="pair"):
        paired_bootstrap({"a": base}, [("b", "a")])
    with pytest.raises(ValueError, match="different numbers"):
        paired_bootstrap({"a": base, "b": better[:10]}, [])
    assert paired_bootstrap({"a": np.zeros(0)}, []) == {}


def test_runs_are_paired_on_the_items_every_run_answered(store: GraphStore) -> None:
    toy = load_toy(store)
    rows = [{"id": f"bi_{k}", "chain_id": toy.chain.id,
             "props": {"benchmark": "cmp", "split": "test", "discipline": "economics"},
             "options": [{"index": 0, "concept_id": toy.c["surplus"].id, "props": {"correct": True}},
                         {"index": 1, "concept_id": toy.c["tax"].id, "props": {"correct": False,
                                                                            "operator": "NEARMISS"}}]}
            for k in range(3)]
    assert store.query("bench_upsert_items", {"rows": rows}) == [{"written": 3}]
    for run, answers in (("r0", [False, False, True]), ("r1", [True, False])):
        store.query("upsert_eval_run", {"id": run, "props": {"benchmark": "cmp", "status": "done"}})
        store.query("upsert_eval_answers", {"run_id": run, "rows": [
            {"item_id": f"bi_{k}", "props": {"correct": ok}} for k, ok in enumerate(answers)]})
    items, scores = run_scores(store, {"V0": "r0", "V1": "r1"})
    assert items == ["bi_0", "bi_1"]  # bi_2 was not answered by r1
    assert scores["V0"].tolist() == [0.0, 0.0] and scores["V1"].tolist() == [1.0, 0.0]
    with pytest.raises(InputError, match="r_missing"):
        run_scores(store, {"V0": "r0", "V2": "r_missing"})
