"""``proda resolve`` and ``proda merges``: entity resolution over L1 concepts, recorded and undoable."""

from __future__ import annotations

import typer

from proda.cli.context import store_for
from proda.cli.output import console, print_json, print_rows

DEFAULT_THRESHOLD = 92.0  # mirrors resolve_candidates.DEFAULT_THRESHOLD without importing rapidfuzz for --help


def resolve(
    ctx: typer.Context,
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline (merges never "
                                          "cross disciplines)."),
    threshold: float = typer.Option(DEFAULT_THRESHOLD, "--threshold", min=50.0, max=100.0,
                                    help="Fuzzy-match score (rapidfuzz token_sort_ratio, 0-100) above which two "
                                         "names are the same concept. Exact, normalised and singular/plural "
                                         "matches merge regardless."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the merges that would be made; write nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the merges as JSON."),
) -> None:
    """Merge concepts that name the same thing (normalisation, plural/singular, aliases, fuzzy match).

    A merge links the duplicate to its canonical concept with SAME_AS, adds the duplicate's name as an
    alias and records a (:Merge) node; nothing is deleted, so `proda merges --undo ID` reverses it.
    Running it twice makes no second merge.
    """
    from proda.pipelines.extract.resolve import merge
    from proda.pipelines.extract.resolve_candidates import find_candidates

    with store_for(ctx) as store:
        if discipline is not None:
            disciplines = [discipline]
        else:
            rows = store.query("discipline_counts", {"discipline": None})
            disciplines = sorted({r["discipline"] for r in rows if r["element"] == "concepts" and r["discipline"]})
        made = []
        for d in disciplines:
            made.extend(merge(store, find_candidates(store, d, threshold=threshold), dry_run=dry_run))
    rows = [{"id": m.id, "discipline": m.discipline, "duplicate": m.duplicate_name, "canonical": m.canonical_name,
             "method": m.method, "score": round(m.score, 1)} for m in made]
    if as_json:
        print_json({"dry_run": dry_run, "merges": rows})
        return
    verb = "would merge" if dry_run else "merged"
    if not rows:
        console.print(f"no merge candidates in {len(disciplines)} disciplines at threshold {threshold:g}")
        return
    print_rows(rows, title=f"{verb} {len(rows)} concepts across {len(disciplines)} disciplines")


def merges(
    ctx: typer.Context,
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline."),
    undo: str | None = typer.Option(None, "--undo", metavar="MERGE_ID", help="Undo this merge: remove its "
                                    "SAME_AS edge and exactly the aliases it added."),
    include_undone: bool = typer.Option(False, "--all", help="Also list merges that were undone."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List recorded concept merges, or undo one."""
    from proda.pipelines.extract.resolve import list_merges, undo_merge

    with store_for(ctx) as store:
        if undo is not None:
            rec = undo_merge(store, undo)
            if as_json:
                print_json(rec.__dict__)
            else:
                console.print(f"undone: {rec.duplicate_name!r} is again separate from {rec.canonical_name!r}")
            return
        records = list_merges(store, discipline, include_undone=include_undone)
    rows = [{"id": m.id, "discipline": m.discipline, "duplicate": m.duplicate_name, "canonical": m.canonical_name,
             "method": m.method, "score": round(m.score, 1), "created_at": m.created_at,
             "undone": m.undone} for m in records]
    if as_json:
        print_json(rows)
    elif not rows:
        console.print("no merges recorded" + (f" in {discipline}" if discipline else ""))
    else:
        print_rows(rows, title=f"{len(rows)} merges")
