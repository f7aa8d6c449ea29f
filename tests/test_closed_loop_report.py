"""The closed-loop experiment's arithmetic and corpus selection (benchmarks/closed_loop.py): the three
V2 arms, paired intervals overall, per discipline and on the retained disciplines, and the claim."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def loop() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling helpers (common, loop_v1)
    try:
        spec = importlib.util.spec_from_file_location("closed_loop", BENCHMARKS / "closed_loop.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def _scores(n: int, right: dict[str, float]) -> dict[str, dict[str, float]]:
    """Item i is answered right by an arm when (i % 10) / 10 < the arm's share: nested, so better arms
    are right on a superset of items and every paired difference is non-negative."""
    out: dict[str, dict[str, float]] = {}
    for arm, share in right.items():
        for s in ((None,) if arm == "v1" else (0, 1, 2)):
            out[arm if s is None else f"{arm}-{s}"] = {f"i{i}": float((i % 10) / 10 < share) for i in range(n)}
    return out


def test_three_arms_intervals_per_discipline_and_retention(loop: ModuleType) -> None:
    scores = _scores(200, {"v1": 0.3, "targeted": 0.8, "control": 0.4, "untargeted": 0.5})
    disciplines = {f"i{i}": ("alpha" if i < 120 else "beta") for i in range(200)}
    r = loop.results(scores, [0, 1, 2], 0, disciplines, retained=["beta"])
    a = r["all"]
    assert a["items"] == 200
    for pair in ("targeted-v1", "targeted-control", "targeted-untargeted", "control-v1", "untargeted-v1"):
        assert pair in a
    assert a["targeted-untargeted"]["mean"] == pytest.approx(0.3)
    assert r["claim_all"] is True
    assert set(r["per_discipline"]) == {"alpha", "beta"} and r["per_discipline"]["alpha"]["items"] == 120
    assert r["retention"]["items"] == 80 and r["retained_disciplines"] == ["beta"]
    md = loop.markdown({"machine": {"cpus": 2, "python": "3", "loadavg_before": [0.1]}, "graph": {"source": "x"},
                        "sizes": {"plan_only": False}, "results": r, "seconds": {}, "notes": []})
    assert "V2 control B (untargeted patches)" in md and "retention (beta)" in md and "holds" in md


def test_the_claim_fails_when_targeting_does_not_beat_control_b(loop: ModuleType) -> None:
    scores = _scores(200, {"v1": 0.3, "targeted": 0.7, "control": 0.4, "untargeted": 0.7})
    r = loop.results(scores, [0, 1, 2], 0, {})
    assert r["all"]["targeted-untargeted"]["mean"] == pytest.approx(0.0)
    assert r["claim_all"] is False and r["retention"] == {}


def test_select_disciplines_keeps_only_those_and_names_what_exists(loop: ModuleType, tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps({"id": str(i), "discipline": d, "text": "t"})
                                for i, d in enumerate(["a", "b", "a", "c"])) + "\n")
    out = loop.select_disciplines(corpus, ["a", "c"], tmp_path / "o.jsonl")
    assert [json.loads(x)["discipline"] for x in out.read_text().splitlines()] == ["a", "a", "c"]
    with pytest.raises(SystemExit, match=r"no document of zz; it has: a \(2\), b \(1\), c \(1\)"):
        loop.select_disciplines(corpus, ["zz"], tmp_path / "p.jsonl")


def test_items_near_the_failures_are_a_subset_of_their_own(loop: ModuleType) -> None:
    scores = _scores(100, {"v1": 0.3, "targeted": 0.8, "control": 0.4, "untargeted": 0.5})
    r = loop.results(scores, [0, 1, 2], 0, {}, near={f"i{i}" for i in range(30)} | {"not-measured"})
    assert r["near_failures"]["items"] == 30
    md = loop.markdown({"machine": {"cpus": 2, "python": "3", "loadavg_before": [0.1]}, "graph": {"source": "x"},
                        "sizes": {"plan_only": False}, "results": r, "seconds": {}, "notes": [],
                        "measured_on": "dev half B"})
    assert "near the failures" in md and "Accuracy on dev half B" in md


def test_run_names_differ_by_split_shard_and_settings(loop: ModuleType) -> None:
    assert [loop.split_tag(s) for s in (("test", None), ("dev", None), ("dev", "0/2"))] == ["test", "dev", "dev0of2"]
    a = loop.argparse.Namespace(
        v1_steps=30, v1_examples=120, batch=4, max_length=256, lr=5e-5, lora=False, v2_steps=10, budget=20,
        replay_ratio=0.3, patch_style="explain", select_on_dev=False, max_items=None)
    v1, arms = loop.run_keys(a, "dev")
    a.patch_style = "answer"
    v1_b, arms_b = loop.run_keys(a, "dev")
    assert v1 == v1_b and arms != arms_b  # V1 is shared; the arms are not
    assert loop.run_keys(a, "dev0of2")[1] != arms_b


def test_from_home_takes_the_prepared_options_and_names_a_clash(loop: ModuleType, tmp_path: Path) -> None:
    import argparse

    def parse(*argv: str) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
        p = argparse.ArgumentParser()
        for k, default in (("--corpus", None), ("--backend", "heuristic"), ("--disciplines", None),
                           ("--test-ratio", 0.35), ("--dev-ratio", 0.25)):
            p.add_argument(k, default=default, type=Path if k == "--corpus" else (float if "ratio" in k else None))
        p.add_argument("--dense", action="store_true")
        p.add_argument("--from-home", type=Path)
        return p.parse_args(list(argv)), p

    a, p = parse("--from-home", str(tmp_path))
    assert "no closed_loop_graph.json" in loop.reuse_options(a, p)
    (tmp_path / loop.PREPARED).write_text(json.dumps({"options": {
        "corpus": "book.jsonl", "backend": "dependency", "dense": True, "disciplines": None, "test_ratio": 0.45,
        "dev_ratio": 0.25}}))
    assert loop.reuse_options(a, p) is None
    assert a.backend == "dependency" and a.dense is True and a.test_ratio == 0.45 and a.corpus == Path("book.jsonl")
    a, p = parse("--from-home", str(tmp_path), "--test-ratio", "0.3")
    problem = loop.reuse_options(a, p)
    assert problem is not None and "--test-ratio 0.3 (prepared with 0.45)" in problem


def test_a_seed_that_would_pass_the_deadline_is_not_started(loop: ModuleType) -> None:
    assert not loop.over_deadline(300.0, 100.0, None)
    assert not loop.over_deadline(300.0, 100.0, 7.0)  # 400 s of 420
    assert loop.over_deadline(350.0, 100.0, 7.0)


def test_figures_so_far_are_written_after_each_seed(loop: ModuleType, tmp_path: Path) -> None:
    """What a run cut short leaves: the JSON, Markdown and plot of the seeds it finished."""
    scores = _scores(60, {"v1": 0.3, "targeted": 0.6, "control": 0.4, "untargeted": 0.5})
    r = {"machine": {"cpus": 2, "python": "3", "loadavg_before": [0.1]}, "graph": {"source": "x"},
         "sizes": {"plan_only": False}, "results": loop.results(scores, [0], 0, {}), "seconds": {"total": 1.0},
         "notes": ["seeds [1, 2] not run: one more seed (~90 s) would pass the 7-minute deadline (400 s spent)"]}
    a = loop.argparse.Namespace(json=tmp_path / "r.json", markdown=tmp_path / "r.md", plot=tmp_path / "r.png")
    md = loop.write_outputs(a, r)
    assert json.loads(a.json.read_text())["results"]["seeds"] == [0]
    assert a.markdown.read_text() == md and "mean over seeds [0]" in md and "would pass the 7-minute deadline" in md
    assert a.plot.read_bytes()[:4] == b"\x89PNG"
