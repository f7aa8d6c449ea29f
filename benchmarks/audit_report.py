"""Rates from the audit verdict files in ``docs/audits/`` (not a test): what the README's audit table quotes.

Run::

    .venv/bin/python benchmarks/audit_report.py                   # the first round
    .venv/bin/python benchmarks/audit_report.py --prefix round2_  # the round after the fixes
    .venv/bin/python benchmarks/audit_report.py --prefix round6_ --kinds   # which distractor kinds were right
    .venv/bin/python benchmarks/audit_report.py --prefix round9_ --rules   # merges under today's rules
    .venv/bin/python benchmarks/audit_report.py --prefix round10_          # composed chains, with causes
    .venv/bin/python benchmarks/audit_report.py --prefix round10_ --home /tmp/kd19 --graph proda_density
                                                   # which of them a graph built since still composes

``--kinds`` joins the item verdicts with their sample: for every kind of distractor (NEARMISS peer,
sibling, INVREL, ...) how many were offered and how many a reader flagged as a right answer, and the
rates among items with and without a peer. ``--rules`` splits the sample's fuzzy and embedding merges
into those today's rules (``spelled_variants``, ``embedding_blocked``) would still make and those they
refuse, with the wrong ones in each (a round's merges were made by the rules of its day); with a
``fuzzy_band`` sample (``audit_sample.py --fuzzy-band``), also how many of the pairs the spelling rule
keeps and refuses name one concept.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

AUDITS = Path(__file__).resolve().parents[1] / "docs" / "audits"


def _rows(pattern: str) -> list[dict[str, object]]:
    return [json.loads(line) for f in sorted(AUDITS.glob(pattern)) for line in f.open(encoding="utf-8")]


def _line(what: str, rows: list[dict[str, object]], flag: str) -> None:
    n = sum(1 for r in rows if r.get(flag))
    print(f"{what:<22}{flag:<22}{n:>5} of {len(rows):<5}{100 * n / len(rows) if rows else 0:6.1f} %")


def _plain(text: str) -> str:
    # a reader types straight quotes where the option has typographic ones
    return text.replace("\u2019", "'").replace("\u2018", "'").casefold()


def _kinds(prefix: str) -> None:
    sample = {r["id"]: r for r in _rows(f"{prefix}items_sample.jsonl")}
    offered: dict[str, int] = {}
    flagged: dict[str, int] = {}
    with_peer = [0, 0]
    without_peer = [0, 0]
    for v in _rows(f"{prefix}items_verdicts*.jsonl"):
        item = sample.get(str(v["id"]))
        if item is None:
            continue
        options = [o for o in item["options"] if not o["correct"]]  # type: ignore[index]
        names = {_plain(str(n)) for n in v.get("options_flagged") or []}  # type: ignore[union-attr]
        for o in options:
            offered[o["kind"]] = offered.get(o["kind"], 0) + 1
            if _plain(o["text"]) in names:
                flagged[o["kind"]] = flagged.get(o["kind"], 0) + 1
        side = with_peer if any(o["kind"] == "peer" for o in options) else without_peer
        side[0] += 1
        side[1] += bool(v.get("distractor_correct"))
    print(f"{'distractor kind':<18}{'offered':>8}{'flagged':>9}")
    for kind in sorted(offered, key=lambda k: -offered[k]):
        print(f"{kind:<18}{offered[kind]:>8}{flagged.get(kind, 0):>9}")
    for what, (n, bad) in (("items with a peer", with_peer), ("items without", without_peer)):
        print(f"{what:<18}{n:>8}{bad:>9} items with a right distractor ({100 * bad / n if n else 0:.1f} %)")


def _rules(prefix: str) -> None:
    from proda.pipelines.extract.resolve_candidates import spelled_variants
    from proda.pipelines.extract.resolve_embed import embedding_blocked

    def made(m: dict[str, object]) -> bool:
        a, b = str(m["duplicate"]), str(m["canonical"])
        if m.get("method") == "fuzzy":
            return spelled_variants(a, b)
        return m.get("method") != "embedding" or embedding_blocked(a, b) is None

    sample = {r["id"]: r for r in _rows(f"{prefix}merges_sample.jsonl")}
    verdicts = [v for v in _rows(f"{prefix}merges_verdicts.jsonl") if v["id"] in sample]
    still = {str(v["id"]): made(sample[str(v["id"])]) for v in verdicts}
    for method in ("fuzzy", "embedding"):
        of = [v for v in verdicts if sample[str(v["id"])].get("method") == method]
        _line(f"{method}, still made", [v for v in of if still[str(v["id"])]], "wrong")
        _line(f"{method}, refused", [v for v in of if not still[str(v["id"])]], "wrong")
    _line("all, still made", [v for v in verdicts if still[str(v["id"])]], "wrong")
    band = {r["id"]: r for r in _rows(f"{prefix}fuzzy_band_sample.jsonl")}
    read = [v for v in _rows(f"{prefix}fuzzy_band_verdicts.jsonl") if v["id"] in band]
    if read:  # pairs just below the threshold, never merged: read after the rule was chosen
        _line("band, kept", [v for v in read if band[str(v["id"])]["kept"]], "same")
        _line("band, refused", [v for v in read if not band[str(v["id"])]["kept"]], "same")


def _still_composed(chains: list[dict[str, object]], home: Path, graph: str) -> None:
    """How many of the composed chains read a later graph still holds (a chain's id derives from its
    relations', so a chain the rules no longer make, or make from other relations, is gone)."""
    from proda.config import Settings
    from proda.schema.store import open_store

    with open_store(Settings.model_validate({"home": home, "graph_name": graph})) as store:
        held = {r["id"] for r in store.run("MATCH (c:Chain) WHERE c.origin = 'composed' RETURN c.id AS id")}
    kept = [v for v in chains if v["id"] in held]
    gone = [v for v in chains if v["id"] not in held]
    _line("chains still composed", kept, "not_one_argument")
    _line("chains no longer", gone, "not_one_argument")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prefix", default="", help="prefix of the verdict files (the round)")
    p.add_argument("--kinds", action="store_true", help="also break the flagged distractors down by kind")
    p.add_argument("--rules", action="store_true", help="also split the merges by what today's fuzzy and "
                   "embedding rules would still make")
    p.add_argument("--home", type=Path, default=None, help="PRODA_HOME of a graph built since: split the composed "
                   "chains read into those it still holds and those it no longer composes")
    p.add_argument("--graph", default="proda", help="graph name under --home")
    a = p.parse_args(argv)
    items, chains, merges = _rows(f"{a.prefix}items_verdicts*.jsonl"), \
        _rows(f"{a.prefix}composed_chains_verdicts.jsonl"), _rows(f"{a.prefix}merges_verdicts.jsonl")
    _line("items", items, "distractor_correct")
    _line("items", items, "answer_unsupported")
    _line("composed chains", chains, "not_one_argument")
    _line("composed chains", chains, "step_unsupported")
    _line("merges", merges, "wrong")
    causes: dict[str, int] = {}
    for v in chains:  # rounds that name a cause for each chain read as no argument
        if v.get("not_one_argument") and v.get("cause"):
            causes[str(v["cause"])] = causes.get(str(v["cause"]), 0) + 1
    for cause, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  not one argument, cause {cause}: {n}")
    if a.home is not None:
        _still_composed(chains, a.home, a.graph)
    if a.kinds:
        _kinds(a.prefix)
    if a.rules:
        _rules(a.prefix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
