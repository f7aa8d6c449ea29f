"""The bundled sample as the Studio's tests and screenshots see it: loaded, ingested, extracted,
resolved, a benchmark, a Builder dataset, two evaluation runs answered by stand-in scorers (no
model is trained or loaded), and the Debugger's diagnoses and patch sets for the second run.

The scorers are deterministic rules, so which items fail is fixed: V0 picks the first option it is
shown, V1 the last; single-hop probes are answered with the first option, which marks the hops of
every failed item weak (a concept gap) unless the first option happens to be right.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proda.schema.store.base import GraphStore
from proda.training.scoring import OptionScores

BENCHMARK = "sample"


class PickScorer:
    """A stand-in model that always prefers the option at ``index`` (negative: from the end)."""

    def __init__(self, index: int) -> None:
        self.index = index

    def score(self, question: str, choices: Sequence[str]) -> OptionScores:
        want = self.index % len(choices)
        lls = [0.0 if i == want else -4.0 - i for i in range(len(choices))]
        return OptionScores(lls, [x / max(1, len(c)) for x, c in zip(lls, choices, strict=True)])


@dataclass
class SampleWorld:
    """Ids the tests navigate by."""

    v0_run_id: str
    v1_run_id: str
    patch_set: str
    failed_item_id: str
    benchmark_items: int


def build_sample_world(store: GraphStore, home: Path) -> SampleWorld:
    """Everything the Studio's pages show, from ``data/sample`` (about 20 s on a quiet 2-core machine)."""
    from proda.cli.demo import sample_path
    from proda.pipelines.build import BuildConfig, build_examples
    from proda.pipelines.debug.config import PatchConfig
    from proda.pipelines.debug.stage import run_patch
    from proda.pipelines.extract.config import ExtractConfig
    from proda.pipelines.extract.resolve import merge
    from proda.pipelines.extract.resolve_candidates import find_candidates
    from proda.pipelines.extract.stage import run_extraction
    from proda.pipelines.ingest import ingest_paths
    from proda.pipelines.load import load_file
    from proda.pipelines.tester import BenchConfig
    from proda.pipelines.tester.build import build_benchmark
    from proda.training.evaluate import EvalConfig, evaluate

    load_file(store, sample_path(), home=home, restart=True)
    ingest_paths(store, [sample_path("corpus.jsonl")])
    run_extraction(store, ExtractConfig(), home)
    for discipline in ("business", "college_success", "computer_science", "economics"):
        merge(store, find_candidates(store, discipline))
    build_benchmark(store, BenchConfig(name=BENCHMARK, test_ratio=0.3, dev_ratio=0.1, seed=0))
    build_examples(store, BuildConfig(dataset="v1"))
    v0 = evaluate(store, EvalConfig(model="stub-first", benchmark=BENCHMARK, run_name="v0"), home,
                  scorer=PickScorer(0))
    v1 = evaluate(store, EvalConfig(model="stub-last", benchmark=BENCHMARK, run_name="v1"), home,
                  scorer=PickScorer(-1))
    patch_set = "v2"
    run_patch(store, PatchConfig(run=v1.run_id, patch_set=patch_set, budget=40, replay_ratio=0.25,
                                 replay_dataset="v1", seed=0), home, scorer_factory=lambda: PickScorer(0))
    failed = store.query("debug_failed_items", {"run_id": v1.run_id, "discipline": None})
    return SampleWorld(v0_run_id=v0.run_id, v1_run_id=v1.run_id, patch_set=patch_set,
                       failed_item_id=failed[0]["item_id"] if failed else "", benchmark_items=v1.items)


class RunningStudio:
    """A Studio served by uvicorn on a free loopback port in a thread (``with RunningStudio(...) as s: s.url``)."""

    def __init__(self, settings: Any, store: GraphStore, *, read_only: bool = False,
                 host_operations: bool = True) -> None:
        import uvicorn

        from proda.services.studio.app import create_app
        from proda.services.studio.hosting import ReadOnlyOperations, open_operations
        from proda.services.studio.jobs import studio_registry

        async def operations() -> Any:
            if read_only:
                return ReadOnlyOperations(settings.home.resolve() / "operations.sqlite3", studio_registry())
            return await open_operations(settings, store)

        self.app = create_app(settings, store, read_only=read_only,
                              operations=operations if host_operations else None)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=0, loop="asyncio",
                                                    log_level="warning", timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, name="studio", daemon=True)
        self.url = ""

    def __enter__(self) -> RunningStudio:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Studio did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    @property
    def operations(self) -> Any:
        return self.app.state.studio.operations

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
