"""What each Studio page shows, read from the domain layer: :class:`~proda.knowledge.Knowledge`, the
named catalog (every graph read is a catalog query with ``$parameters``) and the run directories
under PRODA_HOME. No stage is re-implemented here: these functions only read and shape.

Lists are pages (``skip``/``limit`` or keyset), so a page costs what it shows. Whole-graph aggregates
(counts per discipline, the chain-length histogram) are scans on a large graph; they are kept for
:data:`AGGREGATE_TTL_S` seconds and the page says how old they are (``?fresh=1`` recomputes).
Reachability and components come from the last structural-check operation, never from a page load:
at 1M elements the check takes tens of seconds (README, Performance).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from proda.errors import InputError, NotFound
from proda.knowledge import Deadline, Knowledge, NeighbourRequest, SearchRequest, element_id, validated

T = TypeVar("T")
AGGREGATE_TTL_S = 60.0
PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
MAX_SKIP = 10_000_000


def page_args(page: int, size: int = PAGE_SIZE) -> tuple[int, int]:
    """``(skip, limit)`` of 1-based ``page``; raises InputError for a page or size out of range."""
    if page < 1 or (page - 1) * size > MAX_SKIP:
        raise InputError(f"page {page}: pages start at 1 and stop at {MAX_SKIP // size + 1}")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InputError(f"page size {size}: between 1 and {MAX_PAGE_SIZE}")
    return (page - 1) * size, size


def parse_json(value: Any) -> Any:
    """A stored JSON string as its value (records, counts); other values as they are."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of ``correct`` out of ``n`` ((0, 0) for n = 0)."""
    if n <= 0:
        return 0.0, 0.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class _Cached:
    at: float
    value: Any


@dataclass
class Aggregates:
    """Whole-graph figures kept for a while: computing them scans the graph."""

    ttl_s: float = AGGREGATE_TTL_S
    _values: dict[str, _Cached] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str, compute: Callable[[], T], fresh: bool = False) -> tuple[T, float]:
        """The value and when it was computed (``time.time()``)."""
        with self._lock:
            hit = self._values.get(key)
        if hit is not None and not fresh and time.time() - hit.at < self.ttl_s:
            return hit.value, hit.at
        value = compute()
        with self._lock:
            self._values[key] = _Cached(time.time(), value)
        return value, time.time()

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


class StudioReader:
    """The read side of every page, over one injected store and PRODA_HOME."""

    def __init__(self, knowledge: Knowledge, home: Path, *, query_cap_ms: int = 30_000) -> None:
        self.knowledge = knowledge
        self.store = knowledge.store
        self.home = home
        self.query_cap_ms = query_cap_ms
        self.aggregates = Aggregates()

    def deadline(self) -> Deadline:
        return Deadline.after(self.query_cap_ms / 1000, self.query_cap_ms)

    def q(self, query: str, /, **params: Any) -> list[dict[str, Any]]:
        """Rows of catalog query ``query`` with a per-query time limit."""
        return self.store.query(query, params, timeout_ms=self.query_cap_ms)

    # -- overview ------------------------------------------------------------------------------------
    def discipline_counts(self, fresh: bool = False) -> tuple[list[dict[str, Any]], float]:
        """Per discipline: documents, chunks, concepts, relations, chains (and when they were counted)."""
        def compute() -> list[dict[str, Any]]:
            table: dict[str, dict[str, Any]] = {}
            for r in self.q("discipline_counts", discipline=None):
                name = r["discipline"] or "(none)"
                row = table.setdefault(name, {"discipline": name, "documents": 0, "chunks": 0, "concepts": 0,
                                              "relations": 0, "chains": 0})
                row[r["element"]] = int(r["count"] or 0)
            return [table[k] for k in sorted(table)]
        return self.aggregates.get("discipline_counts", compute, fresh)

    def chain_lengths(self, fresh: bool = False) -> tuple[dict[str, dict[int, int]], float]:
        """Per discipline, chains per length."""
        def compute() -> dict[str, dict[int, int]]:
            out: dict[str, dict[int, int]] = {}
            for r in self.q("studio_chain_lengths", discipline=None):
                out.setdefault(r["discipline"] or "(none)", {})[int(r["length"] or 0)] = int(r["chains"])
            return out
        return self.aggregates.get("chain_lengths", compute, fresh)

    def quarantine_counts(self) -> list[dict[str, Any]]:
        return [{**r, "count": int(r["count"])} for r in self.q("quarantine_counts", discipline=None)]

    def eval_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        return self.q("eval_runs", run=None, limit=limit)

    def disciplines(self) -> list[str]:
        rows, _ = self.discipline_counts()
        return [r["discipline"] for r in rows if r["discipline"] != "(none)"]

    # -- corpus --------------------------------------------------------------------------------------
    def documents(self, page: int, discipline: str | None) -> list[dict[str, Any]]:
        skip, limit = page_args(page)
        rows = self.q("studio_documents", discipline=discipline, key=None, skip=skip, limit=limit + 1)
        return [{**r, "extracted": int(r["extracted"] or 0)} for r in rows]

    def document(self, document_id: str, page: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A document (its first chunk's view of it) and one page of its chunks with status."""
        did = element_id(document_id, "document")
        skip, limit = page_args(page, 50)
        chunks = self.q("studio_chunks", id=did, skip=skip, limit=limit + 1)
        if not chunks and page == 1:
            raise NotFound(f"no document {did!r} with chunks")
        first = self.chunk(chunks[0]["id"]) if chunks else {}
        skipped = self.skipped_reasons({c["id"] for c in chunks})
        for c in chunks:
            c["skipped"] = skipped.get(c["id"], "")
            c["status"] = ("pending" if not c["extracted_with"] else
                           "stale" if c["stale_chains"] else
                           "skipped" if c["skipped"] else "extracted")
        doc = {"id": did, "title": first.get("document_title", ""), "source_id": first.get("source_id", ""),
               "discipline": first.get("discipline", ""), "license": first.get("license", "")}
        return doc, chunks

    def skipped_reasons(self, chunk_ids: set[str]) -> dict[str, str]:
        """Why extraction gave nothing for these chunks, from the runs' ``skipped/*.jsonl`` files."""
        out: dict[str, str] = {}
        root = self.home / "runs" / "extract"
        if not chunk_ids or not root.is_dir():
            return out
        for path in sorted(root.glob("*/skipped/*.jsonl")):
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError:
                continue
            for line in lines:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and row.get("chunk_id") in chunk_ids:
                    out[row["chunk_id"]] = str(row.get("reason", ""))
        return out

    def chunk(self, chunk_id: str) -> dict[str, Any]:
        rows = self.q("studio_chunk", id=element_id(chunk_id, "chunk"))
        if not rows:
            raise NotFound(f"no chunk {chunk_id!r}")
        return rows[0]

    def quarantine(self, page: int, discipline: str | None, reason: str | None) -> list[dict[str, Any]]:
        skip, limit = page_args(page)
        return self.q("studio_quarantine", discipline=discipline, reason=reason, skip=skip, limit=limit + 1)

    def merges(self, discipline: str | None, include_undone: bool, page: int) -> list[dict[str, Any]]:
        from proda.pipelines.extract.resolve import list_merges

        skip, limit = page_args(page)
        records = list_merges(self.store, discipline, include_undone=include_undone)
        return [m.__dict__ for m in records[skip: skip + limit + 1]]

    def extraction_queue(self, key: str) -> list[dict[str, Any]]:
        return self.q("extraction_queue", key=key, discipline=None)

    def estimate(self, values: Mapping[str, Any], llm: Any) -> dict[str, Any]:
        """What ``proda extract --estimate`` prints: calls, tokens and cost for the pending chunks, nothing sent."""
        from proda.pipelines.extract.config import ExtractConfig
        from proda.pipelines.extract.llm_extractor import LLMExtractor
        from proda.pipelines.extract.model import ChunkInput
        from proda.pipelines.extract.stage import extractor_key, make_extractor

        config = ExtractConfig.from_dict(dict(values), source="form").with_llm(llm)
        extractor = make_extractor(config, self.home)
        key = extractor_key(extractor)
        rows = self.q("chunks_to_extract", key=key, discipline=config.discipline, limit=1_000_000)
        if not isinstance(extractor, LLMExtractor):
            return {"key": key, "chunks": len(rows), "backend": "heuristic", "model": "-", "calls": 0,
                    "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
                    "note": "the heuristic baseline makes no model calls"}
        prompts = [extractor.prompts(ChunkInput(chunk_id=r["chunk_id"], discipline=r["discipline"], text=r["text"],
                                                title=r.get("title") or "", section=r.get("section") or ""))
                   for r in rows]
        return {"key": key, "chunks": len(rows), **extractor.client.estimate(prompts, config.max_output_tokens)}

    # -- graph ---------------------------------------------------------------------------------------
    def search(self, query: str, discipline: str | None, after: tuple[str, str] | None) -> Any:
        request = validated(SearchRequest, query=query, discipline=discipline or None, page_size=PAGE_SIZE,
                            after=after)
        return self.knowledge.search(request, self.deadline())

    def concept_card(self, concept_id: str) -> dict[str, Any]:
        card = self.knowledge.concept(concept_id, self.deadline())
        relations = self.q("concept_neighbours", id=card.id, type=None, limit=200)
        merges = self.q("studio_concept_merges", id=card.id)
        return {"card": card, "relations": relations, "merges": merges}

    def neighbourhood(self, concept_id: str, types: tuple[str, ...], depth: int, limit: int) -> dict[str, Any]:
        """Nodes and edges around a concept, as the graph explorer draws them."""
        request = validated(NeighbourRequest, concept_id=concept_id, relation_types=types, depth=depth, limit=limit)
        start = self.knowledge.concept(request.concept_id, self.deadline())
        found = self.knowledge.neighbours(request, self.deadline())
        nodes = {start.id: {"id": start.id, "name": start.name, "discipline": start.discipline, "depth": 0}}
        edges: dict[str, dict[str, Any]] = {}
        for n in found.neighbours:
            nodes[n.concept.id] = {"id": n.concept.id, "name": n.concept.name, "discipline": n.concept.discipline,
                                   "depth": n.depth}
            for rel in n.path:
                edges[rel.id] = {"id": rel.id, "source": rel.subject_id, "target": rel.object_id, "type": rel.type,
                                 "evidence": rel.evidence}
        return {"center": start.id, "nodes": list(nodes.values()),
                "edges": [e for e in edges.values() if e["source"] in nodes and e["target"] in nodes],
                "truncated": found.truncated}

    def relation(self, relation_id: str, at: str = "") -> dict[str, Any]:
        """A relation with its evidence sentence located inside its chunk and document; ``at`` (one of its
        concepts, when the linking page knows it) turns the edge lookup into an expansion from that concept."""
        rid = element_id(relation_id, "relation")
        rows = self.q("studio_relation_at", id=rid, concept=element_id(at, "at")) if at else []
        rows = rows or self.q("studio_relation", id=rid)
        if not rows:
            raise NotFound(f"no relation {relation_id!r}")
        rel = rows[0]
        chunk = self.chunk(rel["chunk_id"]) if rel.get("chunk_id") else None
        parts = highlight(chunk["text"] if chunk else "", rel["evidence"] or "")
        return {"relation": rel, "chunk": chunk, "parts": parts}

    def chain(self, chain_id: str) -> Any:
        return self.knowledge.chain(chain_id, self.deadline())

    # -- benchmark -----------------------------------------------------------------------------------
    def benchmarks(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for r in self.q("studio_benchmarks"):
            b = out.setdefault(r["benchmark"], {"name": r["benchmark"], "items": 0, "splits": {}, "disciplines": {}})
            n = int(r["items"])
            b["items"] += n
            b["splits"][r["split"]] = b["splits"].get(r["split"], 0) + n
            b["disciplines"][r["discipline"]] = b["disciplines"].get(r["discipline"], 0) + n
        return out

    def bench_page(self, benchmark: str, page: int, discipline: str | None, split: str | None) -> list[dict[str, Any]]:
        skip, limit = page_args(page)
        rows = self.q("studio_bench_page", benchmark=benchmark, discipline=discipline, split=split, skip=skip,
                      limit=limit + 1)
        for r in rows:
            r["record"] = parse_json(r["record"]) or {}
        return rows

    def bench_item(self, item_id: str) -> dict[str, Any]:
        iid = element_id(item_id, "item")
        rows = self.q("bench_items", benchmark=None, discipline=None, split=None, id=iid)
        if not rows:
            raise NotFound(f"no benchmark item {iid!r}")
        record = parse_json(rows[0]["record"]) or {}
        chain = None
        if rows[0]["linked_chain_id"]:
            chain = self.knowledge.chain(rows[0]["linked_chain_id"], self.deadline())
        repairs = [{**r, "record": parse_json(r["record"]),
                    "patches": [{**p, "messages": parse_json(p.get("messages"))} for p in r["patches"] or ()]}
                   for r in self.q("studio_item_repairs", item_id=iid, run_id=None)]
        return {"row": rows[0], "item": record, "chain": chain, "repairs": repairs}

    # -- training and evaluation ---------------------------------------------------------------------
    def training_runs(self) -> list[dict[str, Any]]:
        """Training runs under PRODA_HOME with their loss curves (summary.json, else the last checkpoint)."""
        root = self.home / "runs" / "train"
        runs: list[dict[str, Any]] = []
        if not root.is_dir():
            return runs
        for run_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            info: dict[str, Any] = {"name": run_dir.name, "dir": str(run_dir), "finished": False, "losses": []}
            summary = run_dir / "summary.json"
            try:
                if summary.is_file():
                    data = json.loads(summary.read_text())
                    info.update(finished=True, steps=data.get("steps"), seconds=data.get("seconds"),
                                tokens_per_s=data.get("tokens_per_s"), device=data.get("device"),
                                losses=[list(x) for x in data.get("losses", [])])
                else:
                    states = sorted(run_dir.glob("checkpoint-*/trainer_state.json"),
                                    key=lambda p: int(p.parent.name.rsplit("-", 1)[-1])
                                    if p.parent.name.rsplit("-", 1)[-1].isdigit() else -1)
                    if states:
                        history = json.loads(states[-1].read_text()).get("log_history", [])
                        info["losses"] = [[h["step"], h["loss"]] for h in history if "loss" in h and "step" in h]
            except (OSError, ValueError) as e:
                info["error"] = f"unreadable: {e}"
            runs.append(info)
        return runs

    def eval_run(self, run: str) -> dict[str, Any]:
        """One run with its accuracy per discipline, chain length and (wrong answers) operator, with intervals."""
        rows = self.q("eval_runs", run=element_id(run, "run"), limit=1)
        if not rows:
            raise NotFound(f"no evaluation run {run!r}")
        groups: dict[str, list[dict[str, Any]]] = {}
        for g in self.q("eval_summary", run_id=rows[0]["id"]):
            items, correct = int(g["items"]), int(g["correct"])
            low, high = wilson(correct, items)
            groups.setdefault(g["grouping"], []).append({
                "key": str(g["key"]), "items": items, "correct": correct,
                "accuracy": correct / items if items else None, "low": low, "high": high})
        for v in groups.values():
            v.sort(key=lambda g: (len(g["key"]), g["key"]))
        r = rows[0]
        items, wrong = int(r["items"] or 0), int(r["wrong"] or 0)
        low, high = wilson(items - wrong, items)
        return {**r, "items": items, "wrong": wrong, "low": low, "high": high, "groups": groups}

    # -- debugger ------------------------------------------------------------------------------------
    def traceback(self, run: str, top: int = 30) -> Any:
        from proda.knowledge import RunTracebackRequest

        request = validated(RunTracebackRequest, run=run, top=top)
        return self.knowledge.traceback_run(request, self.deadline())

    def heatmap(self, run_id: str, limit: int = 200) -> dict[str, Any]:
        """Failure rate by concept (subject of the edge) and relation type, from the run's edge traceback."""
        rows = self.q("traceback_run_edges", run=run_id, discipline=None, min_support=1, limit=limit)
        cells: dict[tuple[str, str], list[int]] = {}
        names: dict[str, str] = {}
        for r in rows:
            if r["relation_type"] is None:
                continue
            for cid, cname in ((r["subject_id"], r["subject_name"]), (r["object_id"], r["object_name"])):
                names[cid] = cname or cid
                cell = cells.setdefault((cid, r["relation_type"]), [0, 0])
                cell[0] += int(r["items"])
                cell[1] += int(r["wrong"])
        worst = sorted({c for c, _ in cells}, key=lambda c: -max(w / i for (cc, _), (i, w) in cells.items()
                                                                  if cc == c and i))[:30]
        types = sorted({t for c, t in cells if c in worst})
        data = [[types.index(t), worst.index(c), round(w / i, 3), i, w] for (c, t), (i, w) in cells.items()
                if c in worst and i]
        return {"concepts": [names[c] for c in worst], "concept_ids": worst, "types": types, "data": data}

    def run_items(self, run_id: str, page: int, wrong_only: bool = True) -> list[dict[str, Any]]:
        skip, limit = page_args(page)
        rows = self.q("studio_run_items", run_id=run_id, wrong_only=wrong_only, skip=skip, limit=limit + 1)
        for r in rows:
            r["record"] = parse_json(r["record"]) or {}
        return rows

    def diagnoses(self, run_id: str) -> list[dict[str, Any]]:
        return [{**r, "record": parse_json(r["record"])}
                for r in self.q("debug_diagnoses", run_id=run_id, discipline=None)]

    def patch_sets(self, run_id: str | None) -> list[dict[str, Any]]:
        return [{**r, "counts": parse_json(r["counts"])} for r in self.q("studio_patch_sets", run_id=run_id, limit=200)]

    def patches(self, name: str, page_after: str = "", limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
        return [{**r, "messages": parse_json(r["messages"])}
                for r in self.q("debug_patches", name=name, discipline=None, after=page_after, limit=limit + 1)]

    def loop_reports(self) -> list[dict[str, Any]]:
        root = self.home / "runs" / "loop"
        out = []
        if root.is_dir():
            for d in sorted(p for p in root.iterdir() if (p / "report.md").is_file()):
                out.append({"name": d.name, "text": (d / "report.md").read_text(encoding="utf-8", errors="replace")})
        return out


def highlight(text: str, span: str) -> list[tuple[str, bool]]:
    """``text`` cut into parts, the ones that are ``span`` (whitespace-insensitive) flagged True."""
    if not text:
        return []
    if not span:
        return [(text, False)]
    at = text.find(span)
    if at < 0:  # evidence is stored normalised: find it with runs of whitespace collapsed
        import re

        pattern = r"\s+".join(re.escape(w) for w in span.split())
        m = re.search(pattern, text) if pattern else None
        if m is None:
            return [(text, False)]
        return [(text[: m.start()], False), (text[m.start(): m.end()], True), (text[m.end():], False)]
    return [(text[:at], False), (text[at: at + len(span)], True), (text[at + len(span):], False)]
