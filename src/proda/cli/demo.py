"""``proda demo``: the loop on the bundled sample, on the embedded graph, offline.

It loads a small hand-made extraction of two OpenStax modules and the hand-annotated gold set (112
chunks, labelled ``extractor=gold``), ingests eight more modules, extracts L3/L2/L1 from every chunk
(the gold chunks included) with the default offline extractor, resolves duplicate concepts (string
rules and sentence embeddings), composes document-scope chains, runs the structural check and walks
one chain back to its evidence; then the loop: a benchmark from held-out chains (Tester), training data
from L1/L2 (Builder), V0 evaluated, V1 trained and evaluated, V1's failures traced, diagnosed and
patched, V2 trained from V1 on the patches and evaluated. Every step is idempotent: a second run reports
that nothing changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from proda.cli.context import load_settings, settings_from
from proda.cli.knowledge import _print_check
from proda.cli.output import console, print_rows

if TYPE_CHECKING:
    from proda.schema.store import GraphStore


def sample_path(name: str = "knowledge.jsonl") -> Path:
    """Path of a bundled sample file (installed as package data of ``proda.sample``)."""
    return Path(str(resources.files("proda.sample") / name))


def _disciplines(store: GraphStore) -> set[str]:
    rows = store.query("discipline_counts", {"discipline": None})
    return {r["discipline"] for r in rows if r["element"] == "concepts" and r["discipline"]}


def demo(
    ctx: typer.Context,
    graph: str = typer.Option("proda_demo", "--graph", help="Graph name to use (kept apart from your data)."),
    train: bool = typer.Option(True, "--train/--no-train", help="Evaluate the offline SmolLM2 base model, train "
                               "V1 on the Builder data and evaluate it (minutes on a CPU)."),
    steps: int = typer.Option(20, "--steps", min=1, help="Training steps for V1 (each a few seconds on a quiet "
                              "2-core CPU)."),
) -> None:
    """Run the whole loop on the bundled sample with the embedded graph (offline, no keys)."""
    from proda.gold import SPLITS, bundled
    from proda.pipelines.check import structural_report
    from proda.pipelines.extract.compose import ComposeConfig, compose_chains
    from proda.pipelines.extract.config import ExtractConfig
    from proda.pipelines.extract.stage import ShardStats, run_extraction, shard_counter
    from proda.pipelines.ingest import ingest_paths
    from proda.pipelines.load import load_file
    from proda.schema.store import open_store

    base = settings_from(ctx)
    settings = load_settings(base.home, graph_url=base.graph_url, graph_name=graph)
    console.rule("[bold]ProDa demo")
    with open_store(settings) as store:
        console.print(f"graph: {store.backend} at {store.url}, graph {graph!r}")
        console.rule("1. ingest eight textbook modules (4 disciplines) into Document and Chunk nodes")
        ingested = ingest_paths(store, [sample_path("corpus.jsonl")])
        console.print(ingested.summary())
        console.rule("2. load hand-made knowledge: an L1/L2/L3 extraction of two modules (extractor=manual) and "
                     "the gold set")
        report = load_file(store, sample_path(), home=settings.home, restart=True)
        console.print(f"{report.lines:,} records; wrote " +
                      ", ".join(f"{n:,} {k}s" for k, n in sorted(report.written.items())))
        gold = [load_file(store, bundled(split), home=settings.home, restart=True) for split in SPLITS]
        chunks, modules = (sum(r.written.get(kind, 0) for r in gold) for kind in ("chunk", "document"))
        console.print(f"the hand-annotated gold set: {sum(r.lines for r in gold):,} records, {chunks:,} chunks of "
                      f"{modules:,} modules with the chains a domain expert wrote (extractor=gold; `proda extract "
                      "score` measures extractors against it)")
        config = ExtractConfig()
        console.rule(f"3. extract L3 chains -> L2 relations -> L1 concepts (offline {config.backend} extractor, "
                     "every pending chunk, the gold chunks included)")
        seen: dict[str, int] = {}
        with _bar("extracting", "chunks") as bar:
            def extracted(discipline: str, stats: ShardStats) -> None:
                seen[discipline] = stats.chunks
                bar(sum(seen.values()), None)

            extraction = run_extraction(store, config, settings.home, progress=extracted)
        done = extraction.shards
        console.print(f"{sum(s.chunks for s in done)} chunks extracted in {len(done)} discipline shards: "
                      + (", ".join(f"{n} {k}s" for k, n in sorted(shard_counter(done).items())) or "nothing new")
                      + f" (labelled extractor={config.backend})")
        console.rule("4. entity resolution: merge concepts that name the same thing (string rules and "
                     "sentence embeddings; undoable)")
        merged = _resolve(store, sorted({s.discipline for s in done} | _disciplines(store)))
        for m in merged[:5]:
            console.print(f"  {m.duplicate_name!r} -> {m.canonical_name!r} ({m.method}, {m.id})")
        console.print(f"{len(merged)} merges; `proda merges` lists them, `proda merges --undo ID` reverts one")
        console.rule("5. compose multi-step chains from L2 paths inside one document (origin=composed)")
        composed = compose_chains(store, ComposeConfig())
        lengths: dict[int, int] = {}
        for d in composed.disciplines:
            for k, n in d.by_length.items():
                lengths[int(k)] = lengths.get(int(k), 0) + n
        console.print(f"{sum(d.written for d in composed.disciplines)} composed chains written ("
                      + (", ".join(f"{n} of {k} steps" for k, n in sorted(lengths.items())) or "none") + ")")
        console.rule("6. structural check: reachability and components")
        _print_check(structural_report(store))
        console.rule("7. trace the longest L3 chain back to its evidence")
        chains = store.query("longest_chains", {"limit": 1})
        rows = store.query("chain_detail", {"id": chains[0]["id"]})
        print_rows(rows, columns=["pos", "concept_name", "relation_type", "evidence", "document_title"])
        console.rule("8. L2 relations no chain covers (reachability gaps)")
        print_rows(store.query("uncovered_relations", {"limit": 10}),
                   columns=["type", "subject", "object", "discipline"])
        _tester_builder_loop(store, settings.home, train=train, steps=steps)
    console.print("\n[bold green]demo finished.[/bold green] Try `proda query --list`, "
                  "`proda query --show chain_detail` and `proda bench show ITEM_ID`.")
    # the same graph and PRODA_HOME in the web IDE (loopback; add --read-only to browse without writing)
    console.print(f"Open it in ProDa Studio: [bold]PRODA_GRAPH_NAME={graph} proda --home {settings.home} studio[/bold] "
                  "then http://127.0.0.1:8080/", highlight=False)


def _resolve(store: GraphStore, disciplines: list[str]) -> list[Any]:
    """Merges by the string rules plus sentence embeddings; the rules alone when the encoder is not installed."""
    from proda.errors import ConfigError, DependencyMissing
    from proda.pipelines.extract.resolve_embed import DEFAULT_EMBEDDING_THRESHOLD, resolve

    try:
        return resolve(store, disciplines, embedding_threshold=DEFAULT_EMBEDDING_THRESHOLD).merges
    except (ImportError, ConfigError, DependencyMissing) as e:
        console.print(f"[yellow]no sentence embeddings ({e}); merging by the string rules only[/yellow]")
        return resolve(store, disciplines, embedding_threshold=None).merges


def _tester_builder_loop(store: GraphStore, home: Path, *, train: bool, steps: int) -> None:
    """Steps 9-12: benchmark from held-out chains, training data from L1/L2, V0 -> train -> V1."""
    from proda.pipelines.build import BuildConfig, build_examples
    from proda.pipelines.tester import BenchConfig
    from proda.pipelines.tester.build import build_benchmark
    from proda.pipelines.tester.check import check_benchmark

    console.rule("9. Tester: multiple-choice items from held-out L3 chains, distractors from the graph")
    # a larger held-out share than the default 10 %: the sample is small and most heuristic chains are
    # single steps; splits are recorded on the chains, so reruns keep them
    bench = build_benchmark(store, BenchConfig(name="demo", test_ratio=0.3, dev_ratio=0.1, seed=0))
    ops = bench.total("operators")
    on_test = len(store.query("bench_items", {"benchmark": "demo", "discipline": None, "split": "test", "id": None}))
    console.print(f"{bench.items} items from {sum(s.held_out_chains for s in bench.shards)} held-out chains "
                  f"({on_test} test items in the benchmark); "
                  f"distractors: " + (", ".join(f"{k} {n}" for k, n in sorted(ops.items())) or "none")
                  + "; chains skipped: " + (", ".join(f"{k} {n}" for k, n in sorted(bench.total('skipped').items()))
                                            or "none"))
    console.rule("10. Builder: training data from L1/L2, grounded in the chunks (never from L3 chains)")
    built = build_examples(store, BuildConfig(dataset="demo_v1"))
    fams: dict[str, int] = {}
    for d in built.disciplines:
        for k, n in d.families.items():
            fams[k] = fams.get(k, 0) + n
    console.print(f"{built.examples} examples: " + ", ".join(f"{k} {n}" for k, n in sorted(fams.items())))
    checked = check_benchmark(store, "demo")
    console.print(f"bench check: {checked.items} items re-verified against the graph; "
                  + ("validity and orthogonality hold" if checked.ok else
                     f"{len(checked.violations)} violations: {dict(checked.by_check())}"))
    if not train:
        console.print("[dim]--no-train: skipping V0/V1 evaluation and training[/dim]")
        return
    from proda.errors import DependencyMissing

    try:
        from proda.training.base_model import SMOLLM2, resolve_model_path, smollm2_cached
        from proda.training.evaluate import EvalConfig, evaluate
        from proda.training.sft import TrainConfig, run_training

        _quiet_hf()
        if not smollm2_cached(home):
            console.print(f"converting the bundled {SMOLLM2} (GGUF) to float32 once, cached under {home / 'models'}")
        base = resolve_model_path(SMOLLM2, home)
    except (ImportError, DependencyMissing) as e:
        console.print(f"[yellow]skipping training and evaluation: {e}[/yellow]")
        return
    if bench.items == 0 and not store.query("bench_items", {"benchmark": "demo", "discipline": None,
                                                            "split": "test", "id": None}):
        console.print("[yellow]no test items: nothing to evaluate[/yellow]")
        return
    console.rule(f"11. evaluate the base model V0 ({SMOLLM2}, log-likelihood, lm-eval's acc)")
    with _bar("evaluating V0", "items") as progress:
        v0 = evaluate(store, EvalConfig(model=base, benchmark="demo", run_name="demo-v0"), home, progress=progress)
    console.print(f"V0: {v0.items} items, acc {v0.accuracy:.1%}, acc_norm {(v0.accuracy_norm or 0):.1%}")
    console.rule(f"12. train V1 on the Builder data (TRL SFT, {steps} steps on CPU), then evaluate it")
    with _bar("training V1", "steps") as progress:
        summary = run_training(TrainConfig(run_name="demo-v1", dataset="demo_v1", base_model=base, max_steps=steps,
                                           save_steps=max(1, steps // 2), logging_steps=max(1, steps // 5),
                                           keep_checkpoints=0),
                               home, store=store, progress=progress)
    _print_training(summary)
    with _bar("evaluating V1", "items") as progress:
        v1 = evaluate(store, EvalConfig(model=summary.model_dir, benchmark="demo", run_name="demo-v1"), home,
                      progress=progress)
    console.print(f"V1: {v1.items} items, acc {v1.accuracy:.1%} (V0 {v0.accuracy:.1%}); per discipline:")
    v0_by = {g["key"]: g for g in v0.groups if g["grouping"] == "discipline"}
    print_rows([{"discipline": g["key"], "items": g["items"], "V0": f"{v0_by[g['key']]['accuracy']:.0%}",
                 "V1": f"{g['accuracy']:.0%}"} for g in v1.groups if g["grouping"] == "discipline"])
    wrong = {g["key"]: g["items"] for g in v1.groups if g["grouping"] == "wrong_operator"}
    console.print("V1's wrong answers by distractor operator: "
                  + (", ".join(f"{k} {n}" for k, n in sorted(wrong.items())) or "none")
                  + " (the Debugger's raw material; `proda query --show eval_summary`)")
    _compare(store, {"V0": v0.run_id, "V1": v1.run_id})
    _debug_patch_v2(store, home, v0=v0, v1=v1, v1_model=summary.model_dir, steps=steps)


def _debug_patch_v2(store: GraphStore, home: Path, *, v0: Any, v1: Any, v1_model: str, steps: int) -> None:
    """Steps 13-15: trace V1's failures to the graph, diagnose and patch them, train and evaluate V2."""
    from proda.pipelines.debug.config import PatchConfig
    from proda.pipelines.debug.export import export_jsonl
    from proda.pipelines.debug.stage import run_patch
    from proda.pipelines.tester.check import check_benchmark
    from proda.training.evaluate import EvalConfig, evaluate
    from proda.training.sft import TrainConfig, run_training

    console.rule("13. Debugger: trace V1's wrong answers back to concepts and their evidence")
    if v1.correct == v1.items:
        console.print("V1 answered every item correctly: nothing to trace or patch")
        return
    rows = store.query("traceback_run_concepts", {"run": v1.run_id, "discipline": None, "min_support": 1,
                                                  "limit": 5})
    print_rows([{**r, "wrong": int(r["wrong"]), "failure_rate": f"{r['failure_rate']:.0%}"} for r in rows],
               columns=["concept_name", "discipline", "items", "wrong", "failure_rate", "document_title"])
    console.print(f"`proda debug traceback --run {v1.run_id}` shows the same by edge, relation type and operator")
    console.rule("14. diagnose each failure by single-hop probes, then patch: f_refine for concept gaps, "
                 "f_cot (train chains only) for reasoning deficits, plus replay")
    patched = run_patch(store, PatchConfig(run=v1.run_id, patch_set="demo_v2", budget=60, replay_ratio=0.3,
                                           replay_dataset="demo_v1", seed=0), home)
    kinds: dict[str, int] = {}
    families: dict[str, int] = {}
    for shard in patched.shards:
        for k, n in (shard.diagnosis.kinds.items() if shard.diagnosis else ()):
            kinds[k] = kinds.get(k, 0) + n
        for k, n in shard.families.items():
            families[k] = families.get(k, 0) + n
    for shard in patched.shards:
        if shard.status == "done":  # a rerun: the set was written by an earlier demo and is kept
            console.print(shard.message)
    if any(s.status not in ("done", "no_failures") for s in patched.shards):
        console.print(f"{patched.failures} failed items: "
                      + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none diagnosed")
                      + "; patches: " + (", ".join(f"{k} {n}" for k, n in sorted(families.items())) or "none"))
    if not any(s.patches for s in patched.shards):
        console.print("no patch could be written for these failures: V2 is not trained")
        return
    checked = check_benchmark(store, "demo")
    console.print("orthogonality with the patches: " + ("holds" if checked.ok else
                                                        f"{len(checked.violations)} violations"))
    console.rule(f"15. train V2 from V1 on the patch set ({max(1, steps // 2)} steps), evaluate it")
    patches = home / "runs" / "demo" / "patches.jsonl"
    export_jsonl(store, "demo_v2", patches)
    v2_steps = max(1, steps // 2)
    with _bar("training V2", "steps") as progress:
        v2_train = run_training(TrainConfig(run_name="demo-v2", dataset=None, train_file=str(patches),
                                            base_model=v1_model, max_steps=v2_steps, save_steps=v2_steps,
                                            logging_steps=max(1, v2_steps // 5), keep_checkpoints=0), home,
                                progress=progress)
    _print_training(v2_train)
    with _bar("evaluating V2", "items") as progress:
        v2 = evaluate(store, EvalConfig(model=v2_train.model_dir, benchmark="demo", run_name="demo-v2"), home,
                      progress=progress)
    console.print(f"V0 {v0.accuracy:.1%} -> V1 {v1.accuracy:.1%} -> V2 {v2.accuracy:.1%} on {v2.items} test items")
    _compare(store, {"V0": v0.run_id, "V1": v1.run_id, "V2": v2.run_id})
    console.print("[dim]a few dozen items and a few training steps: the demo shows the loop running; "
                  "benchmarks/closed_loop.py measures effect sizes over seeds[/dim]")


def _compare(store: GraphStore, runs: dict[str, str]) -> None:
    """Each run's accuracy and each step's paired difference with 95 % bootstrap intervals, in words."""
    from proda.training.compare import paired_bootstrap, run_scores, verdict

    items, scores = run_scores(store, runs)
    names = list(runs)
    pairs = [(b, a) for a, b in pairwise(names)]
    if len(names) > 2:
        pairs.append((names[-1], names[0]))
    result = paired_bootstrap(scores, pairs)
    if not result:
        return
    print_rows([{"model": n, "accuracy": f"{result[n].mean:.1%}",
                 "95 % interval": f"{result[n].lo:.1%} - {result[n].hi:.1%}"} for n in names],
               title=f"paired over the same {len(items)} test items (bootstrap, 10,000 resamples)")
    for a, b in pairs:
        console.print(verdict(f"{a} - {b}", result[f"{a}-{b}"]))


@contextlib.contextmanager
def _bar(label: str, unit: str) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar for chunks, training steps or evaluated items; yields the ``progress(done, total)``
    callback that ``run_training`` and ``evaluate`` call (the trainer itself prints nothing); a None total
    shows a count without an end."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn(unit), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _print_training(summary: Any) -> None:
    """One line for a training run: steps, loss, speed, and whether an earlier run's model was reused."""
    losses = summary.losses
    done = " (already trained: reused)" if summary.reused else ""
    console.print(f"{summary.steps} steps, loss {losses[0][1]:.2f} -> {losses[-1][1]:.2f}, "
                  f"{summary.real_tokens_per_s:.0f} tokens/s, {summary.seconds:.0f} s{done}" if losses else
                  f"{summary.steps} steps{done}")


def _quiet_hf() -> None:
    """The demo prints its own summary lines: silence the libraries' progress bars and advice."""
    import warnings

    import datasets
    import transformers

    hf_logging: Any = transformers.utils.logging  # untyped module
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
