"""``proda debug``: the Debugger's analyst commands; ``traceback`` follows an evaluation run's wrong
answers back to the graph, ``diagnose`` measures why each was wrong (concept gap or reasoning deficit)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import typer

from proda.cli.context import settings_from, store_for
from proda.cli.output import console, pct, print_json, print_rows
from proda.cli.patch import fail_undiagnosable, print_shard_notes, shard_progress

if TYPE_CHECKING:
    from proda.knowledge import FailureNode, RunTraceback
    from proda.pipelines.debug.diagnose import WeakPoint

app = typer.Typer(
    help="The Debugger: from an evaluation run's wrong answers back to the chains, relations, concepts, "
         "chunks and documents they rest on.",
    rich_markup_mode="markdown", no_args_is_help=True,
)

EXCERPT = 90  # characters of evidence shown per row; --json has it whole


def _fooled(node: FailureNode) -> str:
    return ", ".join(f"{op} {n}" for op, n in node.fooled_by) or "-"


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 3] + "..."


def _evidence(node: FailureNode) -> str:
    e = node.evidence
    if e is None:
        return "-"
    quote = f'"{_excerpt(e.text)}"' if e.text else _excerpt(e.chunk_text)
    return f"{quote} ({e.document_title or e.document_id or 'no document'})" if quote else e.document_title or "-"


def _rows(nodes: tuple[FailureNode, ...], *, evidence: bool) -> list[dict[str, object]]:
    return [{"node": n.label, "id": n.id, "discipline": n.discipline or "-", "items": n.items, "wrong": n.wrong,
             "failure": pct(n.failure_rate), "fooled by": _fooled(n), "sample item": n.sample_item_id or "-",
             **({"evidence": _evidence(n)} if evidence else {})} for n in nodes]


def _print(trace: RunTraceback, min_support: int) -> None:
    where = f" in {trace.discipline}" if trace.discipline else ""
    cols = ["node", "items", "wrong", "failure", "fooled by"]
    print_rows(_rows(trace.disciplines, evidence=False), title=f"disciplines{where}", columns=cols)
    print_rows(_rows(trace.relation_types, evidence=False), title="relation types", columns=cols)
    print_rows(_rows(trace.concepts, evidence=True), title="worst concepts (L1)",
               columns=["node", "discipline", "items", "wrong", "failure", "fooled by", "sample item", "evidence"])
    print_rows(_rows(trace.relations, evidence=True), title="worst relations (L2 edges)",
               columns=["node", "items", "wrong", "failure", "fooled by", "sample item", "evidence"])
    print_rows([{"operator": o.operator, "offered": o.offered, "fooled": o.fooled, "rate": pct(o.fooled_rate),
                 "sample item": o.sample_item_id or "-"} for o in trace.operators],
               title="which distractor operator fooled the model")
    sample = next((n.sample_item_id for n in trace.concepts if n.sample_item_id), None)
    by_discipline = f" -p discipline={trace.discipline}" if trace.discipline else ""
    hints = [f"failure = wrong / items, over the answered items whose chain passes the node; nodes with fewer "
             f"than {min_support} such items are left out (--min-support).",
             f"the same by hand:  proda query traceback_run_concepts -p run={trace.run_id}{by_discipline} "
             f"-p min_support={min_support}   (and traceback_run_edges, _relation_types, _disciplines, _operators)",
             "their Cypher:  proda query --show traceback_run_edges"]
    if sample:
        hints.append(f"one wrong item, step by step:  proda query traceback_item -p id={sample}")
    for line in hints:  # commands stay on one line, to be copied
        console.print(f"[dim]{line}[/dim]", soft_wrap=True, highlight=False)


def traceback(
    ctx: typer.Context,
    run: str = typer.Option(..., "--run", "-r", help="Evaluation run: its id (evr_...) or its name, as `proda eval` "
                            "prints them; `proda query eval_runs` lists the runs."),
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only the run's items of this "
                                          "discipline."),
    top: int = typer.Option(10, "--top", "-k", min=1, max=1000, help="Nodes shown per kind, worst first."),
    min_support: int = typer.Option(2, "--min-support", "-s", min=1, help="Leave out nodes that fewer answered "
                                    "items rest on: a failure rate over one item says little (1 shows all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole traceback as JSON."),
    remote: str | None = typer.Option(None, "--remote", envvar="PRODA_REMOTE", help="Ask a ProDa server "
                                      "(grpc://host:port, grpcs:// for TLS; token from PRODA_API_TOKEN)."),
) -> None:
    """Trace an evaluation run's wrong answers back to the graph: worst nodes first, with evidence.

    Every answered item tests an L3 chain; a wrong answer implicates the chain's L2 relation edges,
    their L1 concepts and the chunks and documents they were extracted from. For each discipline,
    relation type, concept and edge this prints how many answered items rest on it (the support),
    how many of those were answered wrong, the failure rate, which distractor operator the model
    chose there (INVREL: the relation inverted, TRUNC: the chain cut short, NEARMISS: a neighbour
    of the answer), one wrong item to look at, and the evidence (document, chunk, evidence span).
    A last table says, per operator, how often its distractors fooled the model when offered.

    Examples: `proda debug traceback --run v1-proda-test-loglikelihood`;
    `proda debug traceback -r evr_... -d economics --top 20 --min-support 3 --json`.
    """
    from proda.knowledge import Deadline, Knowledge, RunTracebackRequest, validated

    request = validated(RunTracebackRequest, run=run, discipline=discipline, min_support=min_support, top=top)
    if remote is not None:
        from proda.services.client import ProdaClient

        with ProdaClient.from_url(remote, settings_from(ctx)) as client:
            trace = client.traceback_run(run, discipline=discipline, min_support=min_support, top=top)
    else:
        settings = settings_from(ctx)
        with store_for(ctx) as store:
            trace = Knowledge(store).traceback_run(request, Deadline.after(None, settings.query_timeout_ms))
    if as_json:
        print_json(asdict(trace))
        return
    where = f" in {trace.discipline}" if trace.discipline else ""
    console.print(f"run [bold]{trace.run_name or trace.run_id}[/bold] ({trace.run_id}): model {trace.model or '?'} "
                  f"on {trace.benchmark or '?'}/{trace.split or '?'}; {trace.items} answered item(s){where}, "
                  f"{trace.wrong} wrong" + (f" ({pct(trace.wrong / trace.items)})" if trace.items else ""),
                  highlight=False)
    if trace.items == 0:
        console.print(f"the run answered no items{where}: nothing to trace back")
        return
    if trace.wrong == 0:
        console.print(f"the run has no wrong answers{where}: nothing to trace back")
        return
    _print(trace, min_support)


app.command(name="traceback")(traceback)


def _weak_rows(points: list[WeakPoint], what: str) -> list[dict[str, Any]]:
    return [{what: w.label, "id": w.id, "discipline": w.discipline, "concept gaps": w.concept_gap,
             "reasoning deficits": w.reasoning_deficit} for w in points]


def diagnose(
    ctx: typer.Context,
    run: str = typer.Option(..., "--run", "-r", help="Evaluation run: its id (evr_...) or its name; "
                            "`proda query eval_runs` lists the runs."),
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline (default: every "
                                          "discipline the run answered)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model answering the probes (default: the run's "
                                     "own; required for a run evaluated in generate mode)."),
    top: int = typer.Option(10, "--top", "-k", min=1, max=1000, help="Weakest concepts and relations shown."),
    as_json: bool = typer.Option(False, "--json", help="Print the diagnosis as JSON (every diagnosis included)."),
) -> None:
    """Diagnose each failed item of an evaluation run: concept gap or reasoning deficit.

    The same measurement as `proda patch --diagnose-only`: every hop of a failed item's chain is
    asked as a single-hop probe of the same model; a failed probe is a concept gap on that hop,
    all probes passed is a reasoning deficit (the steps are known but not composed). Diagnoses
    are stored as (:Diagnosis) nodes (a rerun reuses them) and no patch is written. Prints the
    counts per kind and discipline, then the weakest concepts and relation edges: most concept
    gaps first, then most diagnoses.

    Examples: `proda debug diagnose --run v1-proda-test-loglikelihood`;
    `proda debug diagnose -r evr_... -d economics --model ./models/v1 --json`.
    """
    from proda.pipelines.debug import PatchConfig, run_patch
    from proda.pipelines.debug.diagnose import KINDS, dumps, stored_diagnoses, weak_points

    config = PatchConfig.from_dict({"run": run, "discipline": discipline, "model": model}, source="flags")
    settings = settings_from(ctx)
    with store_for(ctx) as store:
        with shard_progress(disable=as_json) as (progress, shard_done):
            report = run_patch(store, config, settings.home, diagnose_only=True, progress=progress,
                               on_shard=shard_done)
        diagnoses = sorted(stored_diagnoses(store, report.run.id, config.discipline).values(), key=lambda d: d.id)
    concepts, relations = weak_points(diagnoses, top)
    kinds = {k: sum(1 for d in diagnoses if d.kind == k) for k in KINDS}
    rows = [{"discipline": s.discipline, "status": s.status, "failed": s.diagnosis.failed if s.diagnosis else 0,
             **{k: (s.diagnosis.kinds.get(k, 0) if s.diagnosis else 0) for k in KINDS},
             "not_diagnosed": sum(s.diagnosis.skipped.values()) if s.diagnosis else 0,
             "probed_now": s.diagnosis.diagnosed if s.diagnosis else 0,
             "reused": s.diagnosis.reused if s.diagnosis else 0} for s in report.shards]
    if as_json:
        print_json({"run_id": report.run.id, "run_name": report.run.name, "model": config.model or report.run.model,
                    "failures": report.failures, "kinds": kinds,
                    "disciplines": [{**r, "message": s.message, "not_diagnosed_because": s.diagnosis.examples
                                     if s.diagnosis else {}} for r, s in zip(rows, report.shards, strict=True)],
                    "weakest_concepts": [{**asdict(w), "diagnoses": w.diagnoses} for w in concepts],
                    "weakest_relations": [{**asdict(w), "diagnoses": w.diagnoses} for w in relations],
                    "diagnoses": dumps(diagnoses)})
    else:
        console.print(f"run [bold]{report.run.name or report.run.id}[/bold] ({report.run.id}): probes answered by "
                      f"{config.model or report.run.model or '?'}; {report.failures} failed item(s), "
                      + ", ".join(f"{n} {k.replace('_', ' ')}{'' if n == 1 else 's'}" for k, n in kinds.items()),
                      highlight=False)
        print_rows(rows, title="diagnoses per discipline")
        for s in report.shards:
            print_shard_notes(s)
        if diagnoses:
            print_rows(_weak_rows(concepts, "concept"), title="weakest concepts (L1)")
            print_rows(_weak_rows(relations, "relation"), title="weakest relations (L2 edges)")
            where = f"--discipline {config.discipline}" if config.discipline else "--all"
            console.print(f"[dim]concept gaps: a probe of a hop on it failed; reasoning deficits: every hop was "
                          f"known but the chain was not. Repair them:  proda patch --run {report.run.id} {where}"
                          "[/dim]", soft_wrap=True, highlight=False)
        elif report.failures == 0:
            console.print("no failed items: nothing to diagnose")
    fail_undiagnosable(report.shards)


app.command(name="diagnose")(diagnose)
