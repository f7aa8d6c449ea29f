"""``proda debug``: the Debugger's analyst commands; ``traceback`` follows an evaluation run's wrong
answers back to the graph."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import typer

from proda.cli.context import settings_from, store_for
from proda.cli.output import console, pct, print_json, print_rows

if TYPE_CHECKING:
    from proda.services.knowledge import FailureNode, RunTraceback

app = typer.Typer(
    help="The Debugger: from an evaluation run's wrong answers back to the chains, relations, concepts, "
         "chunks and documents they rest on.",
    no_args_is_help=True,
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
    from proda.services.knowledge import Deadline, Knowledge, RunTracebackRequest, validated

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
