"""The Studio's web application: FastAPI routes rendering Jinja templates over :mod:`.views`.

One route per page and per action. Reads run on Starlette's thread pool (the graph drivers block);
jobs go to the durable operations (:mod:`.hosting`). Every failure a person can cause (a bad id, a
parameter of the wrong type, an unknown job setting) is a ProDa error mapped to a 4xx page that
says what was wrong; anything else is a 500 page with an error id, the traceback only in the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from proda.config import Settings
from proda.errors import (
    ConfigError,
    GraphUnavailable,
    InputError,
    NotFound,
    PreconditionFailed,
    ProdaError,
    QueryTimeout,
)
from proda.knowledge import Knowledge, NamedQueryRequest, bind_parameters, validated
from proda.schema.store.base import GraphStore
from proda.services import jobs as job_kinds
from proda.services.operations import OperationRecord, OperationState
from proda.services.studio import charts, forms
from proda.services.studio import jobs as studio_jobs
from proda.services.studio.hosting import Operations
from proda.services.studio.security import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Guard
from proda.services.studio.views import PAGE_SIZE, StudioReader

log = logging.getLogger(__name__)

PACKAGE = "proda.services.studio"
NAV = (("overview", "/", "Overview"), ("corpus", "/corpus", "Corpus"), ("graph", "/graph", "Graph"),
       ("bench", "/bench", "Benchmark"), ("training", "/training", "Training"), ("debug", "/debug", "Debugger"),
       ("query", "/query", "Cypher"), ("operations", "/operations", "Operations"))
STATUS = {InputError: 400, ConfigError: 400, NotFound: 404, PreconditionFailed: 409, QueryTimeout: 504,
          GraphUnavailable: 503}
KIND_LABELS = {job_kinds.CHECK_STRUCTURE: "structural check", job_kinds.EXTRACT_KNOWLEDGE: "extract",
               job_kinds.BUILD_BENCHMARK: "bench build", job_kinds.BUILD_TRAINING_DATA: "build training data",
               job_kinds.GENERATE_PATCHES: "debugger patches", job_kinds.EVALUATE_MODEL: "evaluate",
               job_kinds.TRAIN_MODEL: "train", **studio_jobs.KIND_LABELS}
# the fields each job form shows (in order); the rest keep their defaults unless a recipe sets them
FORM_FIELDS: dict[str, tuple[str, ...] | None] = {
    studio_jobs.INGEST: ("paths", "discipline", "max_tokens"),
    job_kinds.EXTRACT_KNOWLEDGE: ("backend", "model", "discipline", "max_cost", "max_tokens", "batch_size"),
    studio_jobs.RESOLVE: ("discipline", "threshold", "dry_run"),
    job_kinds.CHECK_STRUCTURE: ("discipline",),
    job_kinds.BUILD_BENCHMARK: ("name", "discipline", "test_ratio", "dev_ratio", "distractors", "seed"),
    studio_jobs.CHECK_BENCHMARK: ("name", "discipline"),
    studio_jobs.EXPORT_BENCHMARK: ("name", "format", "discipline"),
    job_kinds.BUILD_TRAINING_DATA: ("dataset", "discipline", "budget"),
    job_kinds.TRAIN_MODEL: ("run_name", "dataset", "base_model", "method", "max_steps", "learning_rate"),
    job_kinds.EVALUATE_MODEL: ("model", "benchmark", "split", "mode", "run_name", "limit"),
    job_kinds.GENERATE_PATCHES: ("run", "patch_set", "budget", "replay_ratio", "diagnose_only"),
    studio_jobs.RUN_LOOP: ("name", "benchmark", "dataset", "v1_steps", "v2_steps", "patch_budget"),
}


@dataclass
class StudioState:
    """What the routes share: settings, the reader over the graph, the operations, the access rules."""

    settings: Settings
    reader: StudioReader
    guard: Guard
    operations: Operations | None = None

    @property
    def read_only(self) -> bool:
        return self.guard.read_only


def _templates() -> Environment:
    folder = Path(str(resources.files(PACKAGE) / "templates"))
    env = Environment(loader=FileSystemLoader(folder), autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["pct"] = lambda v: "–" if v is None else f"{float(v) * 100:.1f} %"
    env.filters["when"] = lambda t: "–" if not t else datetime.fromtimestamp(float(t), UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC")
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True, default=str)
    env.filters["kind_label"] = lambda k: KIND_LABELS.get(k, k)
    env.filters["urlq"] = lambda v: quote(str(v), safe="")
    env.filters["ago"] = lambda t: f"{max(0, int(time.time() - float(t)))} s ago" if t else ""
    return env


def echarts_dir() -> Path | None:
    """The ECharts ES-module bundle shipped in the NiceGUI wheel (None when it is not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("nicegui")  # locates the package without importing (running) it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "elements" / "echart" / "dist"
    return folder if (folder / "index.js").is_file() else None


def create_app(settings: Settings, store: GraphStore, *, host: str = "127.0.0.1", read_only: bool = False,
               operations: Callable[[], Awaitable[Operations]] | None = None) -> FastAPI:
    """The Studio over ``store`` (injected, closed by the caller) and ``settings.home``.

    ``operations`` opens the job side at start-up (:func:`.hosting.open_operations`); None serves the
    pages without jobs (every action answers 409).
    """
    tokens = settings.bearer_tokens()
    guard = Guard(host=host, tokens=tokens, read_only=read_only)
    reader = StudioReader(Knowledge(store, max_rows=settings.grpc_row_limit), settings.home.resolve(),
                          query_cap_ms=settings.query_timeout_ms)
    state = StudioState(settings=settings, reader=reader, guard=guard)
    env = _templates()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if operations is not None:
            state.operations = await operations()
        try:
            yield
        finally:
            if state.operations is not None:
                await state.operations.close()

    app = FastAPI(title="ProDa Studio", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.studio = state
    static = Path(str(resources.files(PACKAGE) / "static"))
    app.mount("/static/studio", StaticFiles(directory=static), name="static")
    charts_dir = echarts_dir()
    if charts_dir is not None:
        app.mount("/static/echarts", StaticFiles(directory=charts_dir), name="echarts")

    # -- access rules --------------------------------------------------------------------------------
    @app.middleware("http")
    async def access(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if not guard.host_ok(request.headers.get("host")):
            return _plain(400, "this Studio answers on its loopback address only (unexpected Host header)")
        public = path.startswith("/static/") or path == "/login"
        if guard.auth_required and not public and not (guard.bearer_ok(request.headers.get("authorization"))
                                                       or guard.session_ok(request.cookies.get(SESSION_COOKIE))):
            if request.method == "GET" and not path.startswith("/api/"):
                return RedirectResponse(f"/login?{urlencode({'next': str(request.url.path)})}", status_code=303)
            return _plain(401, "missing or unknown token: log in, or send 'Authorization: Bearer <token>'")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            if guard.read_only and path != "/login":
                return _plain(403, "this Studio is read-only (--read-only): it refuses every write")
            bearer = guard.bearer_ok(request.headers.get("authorization"))
            if not bearer and not guard.same_origin(request.headers.get("origin"), request.headers.get("referer"),
                                                    request.headers.get("host")):
                return _plain(403, "cross-origin write refused: the request did not come from a Studio page")
        try:
            response = await call_next(request)
        except Exception as e:  # noqa: BLE001  # the last resort: a page with an error id, never a traceback
            response = unexpected_error(request, e)
        minted = getattr(request.state, "csrf", None)
        if minted and CSRF_COOKIE not in request.cookies:
            # only the page that shows the token sets it: a parallel asset request must not replace it
            response.set_cookie(CSRF_COOKIE, minted, httponly=True, samesite="strict")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
                                    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
        return response

    def csrf_token(request: Request) -> str:
        token = request.cookies.get(CSRF_COOKIE)
        if not token:
            token = getattr(request.state, "csrf", None) or Guard.new_csrf()
            request.state.csrf = token
        return token

    async def posted(request: Request) -> dict[str, Any]:
        """The form of a write, once its CSRF token is checked (the middleware checked the origin)."""
        form = await request.form()
        values = {k: form.get(k) for k in form}
        if not guard.bearer_ok(request.headers.get("authorization")):
            presented = values.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
            if not guard.csrf_ok(request.cookies.get(CSRF_COOKIE), str(presented) if presented else None):
                raise _Refused("the form's CSRF token is missing or stale: reload the page and submit again")
        return values

    def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        page = env.get_template(template).render(
            request=request, nav=NAV, read_only=guard.read_only, csrf=csrf_token(request),
            auth=guard.auth_required, charts=charts_dir is not None, ops=state.operations,
            ops_mode=state.operations.mode if state.operations else "none",
            ops_address=state.operations.address if state.operations else "", **context)
        return HTMLResponse(page, status_code=status)

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")

    def error_page(request: Request, status: int, message: str) -> Response:
        if wants_json(request):
            return JSONResponse({"error": message, "status": status}, status_code=status)
        return render(request, "error.html", status=status, status_code=status, message=message)

    # -- errors --------------------------------------------------------------------------------------
    @app.exception_handler(ProdaError)
    async def proda_error(request: Request, e: ProdaError) -> Response:
        status = next((code for cls, code in STATUS.items() if isinstance(e, cls)), 500)
        if status == 500:
            error_id = uuid.uuid4().hex[:12]
            log.error("studio: %s failed (error id %s): %s", request.url.path, error_id, e, exc_info=e)
            return error_page(request, 500, f"{type(e).__name__}: {e} (error id {error_id})")
        return error_page(request, status, str(e))

    @app.exception_handler(_Refused)
    async def refused(request: Request, e: _Refused) -> Response:
        return error_page(request, 403, str(e))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, e: RequestValidationError) -> Response:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
        return error_page(request, 400, f"{where or 'request'}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        message = "no such page" if e.status_code == 404 else str(e.detail)
        return error_page(request, e.status_code, message)

    def unexpected_error(request: Request, e: Exception) -> Response:
        error_id = uuid.uuid4().hex[:12]
        log.error("studio: %s failed (error id %s)", request.url.path, error_id, exc_info=e)
        return error_page(request, 500, f"internal error; error id {error_id} (the Studio's log has the details)")

    def ops() -> Operations:
        if state.operations is None:
            raise PreconditionFailed("this Studio runs no jobs (no operations store is attached)")
        return state.operations

    async def recent(limit: int = 8, kind: str | None = None) -> list[OperationRecord]:
        if state.operations is None:
            return []
        return (await state.operations.find(limit=limit, kind=kind)).records

    def job_form(kind: str) -> dict[str, Any]:
        """A job form's fields, or unavailable with the reason."""
        registry = state.operations.registry if state.operations else studio_jobs.studio_registry()
        try:
            spec = registry.get(kind).spec
        except ProdaError as e:
            return {"kind": kind, "fields": [], "unavailable": str(e)}
        available = state.operations is None or kind in state.operations.kinds()
        reason = "" if available else (f"runs only where the Studio hosts the operations; PRODA_HOME's are served "
                                       f"by proda serve at {state.operations.address if state.operations else ''}")
        return {"kind": kind, "fields": forms.form_fields(spec, FORM_FIELDS.get(kind)), "unavailable": reason,
                "label": KIND_LABELS.get(kind, kind)}

    # -- login ---------------------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/") -> Response:
        return render(request, "login.html", next=next if next.startswith("/") else "/", error="")

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await posted(request)
        target = str(form.get("next") or "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        if not guard.auth_required:
            return RedirectResponse(target, status_code=303)
        if not guard.token_ok(str(form.get("token") or "")):
            return render(request, "login.html", status=401, next=target, error="unknown token")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, guard.session_value(), httponly=True, samesite="strict")
        return response

    # -- 1. overview ---------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    async def overview(request: Request, fresh: bool = False) -> Response:
        def read() -> dict[str, Any]:
            counts, counted_at = reader.discipline_counts(fresh)
            lengths, _ = reader.chain_lengths(fresh)
            return {"counts": counts, "counted_at": counted_at, "lengths": lengths,
                    "quarantine": reader.quarantine_counts(), "runs": reader.eval_runs(8)}
        data = await run_in_threadpool(read)
        checks = await recent(1, job_kinds.CHECK_STRUCTURE)
        last_check = next((r for r in checks if r.state == OperationState.SUCCEEDED and r.result), None)
        all_lengths = sorted({n for v in data["lengths"].values() for n in v})
        histogram = charts.bars(all_lengths, [(d, [v.get(n, 0) for n in all_lengths])
                                              for d, v in sorted(data["lengths"].items())],
                                x_name="relations per chain", y_name="chains", stack=True)
        return render(request, "overview.html", page="overview", **data, histogram_option=histogram,
                      last_check=last_check, check_form=job_form(job_kinds.CHECK_STRUCTURE),
                      operations=await recent(8))

    # -- 2. corpus and extraction --------------------------------------------------------------------
    @app.get("/corpus", response_class=HTMLResponse)
    async def corpus(request: Request, page: int = 1, discipline: str | None = None) -> Response:
        discipline = discipline or None

        def read() -> dict[str, Any]:
            return {"documents": reader.documents(page, discipline), "disciplines": reader.disciplines(),
                    "quarantine": reader.quarantine_counts()}
        data = await run_in_threadpool(read)
        more = len(data["documents"]) > PAGE_SIZE
        return render(request, "corpus.html", page="corpus", **data, documents_page=data["documents"][:PAGE_SIZE],
                      more=more, page_no=page, discipline=discipline or "", estimate=None,
                      forms=[job_form(k) for k in (studio_jobs.INGEST, job_kinds.EXTRACT_KNOWLEDGE,
                                                   studio_jobs.RESOLVE)],
                      operations=await recent(10))

    @app.get("/corpus/estimate", response_class=HTMLResponse)
    async def estimate(request: Request) -> Response:
        values = {k: v for k, v in request.query_params.items() if v and k in ("backend", "model", "discipline",
                                                                               "max_cost", "max_tokens")}
        for key in ("max_cost",):
            if key in values:
                values[key] = _number(values[key], float, key)
        if "max_tokens" in values:
            values["max_tokens"] = _number(values["max_tokens"], int, "max_tokens")
        result = await run_in_threadpool(reader.estimate, values, state.settings.llm)
        return render(request, "estimate.html", page="corpus", estimate=result, values=values)

    @app.get("/corpus/document/{document_id}", response_class=HTMLResponse)
    async def document(request: Request, document_id: str, page: int = 1) -> Response:
        doc, chunks = await run_in_threadpool(reader.document, document_id, page)
        return render(request, "document.html", page="corpus", doc=doc, chunks=chunks[:50], more=len(chunks) > 50,
                      page_no=page)

    @app.get("/corpus/chunk/{chunk_id}", response_class=HTMLResponse)
    async def chunk(request: Request, chunk_id: str) -> Response:
        row = await run_in_threadpool(reader.chunk, chunk_id)
        return render(request, "chunk.html", page="corpus", chunk=row, parts=[(row["text"] or "", False)],
                      relation=None)

    @app.get("/corpus/quarantine", response_class=HTMLResponse)
    async def quarantine(request: Request, page: int = 1, discipline: str | None = None,
                         reason: str | None = None) -> Response:
        rows = await run_in_threadpool(reader.quarantine, page, discipline or None, reason or None)
        counts = await run_in_threadpool(reader.quarantine_counts)
        return render(request, "quarantine.html", page="corpus", rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE,
                      page_no=page, counts=counts, discipline=discipline or "", reason=reason or "")

    @app.get("/corpus/merges", response_class=HTMLResponse)
    async def merges(request: Request, page: int = 1, discipline: str | None = None, all: bool = False) -> Response:
        rows = await run_in_threadpool(reader.merges, discipline or None, all, page)
        return render(request, "merges.html", page="corpus", rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE,
                      page_no=page, discipline=discipline or "", include_undone=all,
                      resolve_form=job_form(studio_jobs.RESOLVE), message=request.query_params.get("message", ""))

    @app.post("/corpus/merges/{merge_id}/undo")
    async def undo(request: Request, merge_id: str) -> Response:
        await posted(request)
        from proda.knowledge import element_id
        from proda.pipelines.extract.resolve import undo_merge

        record = await run_in_threadpool(undo_merge, reader.store, element_id(merge_id, "merge"))
        reader.aggregates.clear()
        message = f"undone: {record.duplicate_name!r} is again separate from {record.canonical_name!r}"
        return RedirectResponse(f"/corpus/merges?{urlencode({'message': message, 'all': 'true'})}", status_code=303)

    # -- jobs and operations -------------------------------------------------------------------------
    @app.post("/jobs/{kind}")
    async def start_job(request: Request, kind: str) -> Response:
        form = await posted(request)
        operations_ = ops()
        spec = operations_.registry.get(kind).spec
        values = forms.posted_values(spec, form)
        record = await operations_.submit(kind, values)
        reader.aggregates.clear()
        return RedirectResponse(f"/operations/{record.id}", status_code=303)

    @app.get("/operations", response_class=HTMLResponse)
    async def operations_page(request: Request, kind: str | None = None, state_: str | None = None,
                              before: str | None = None) -> Response:
        wanted = None
        if state_:
            try:
                wanted = OperationState(state_)
            except ValueError:
                raise InputError(f"state {state_!r}: one of {', '.join(s.value for s in OperationState)}") from None
        after = _keyset(before)
        page = await ops().find(kind=kind or None, state=wanted, limit=PAGE_SIZE, after=after)
        next_link = f"{page.after[0]!r}:{page.after[1]}" if page.after else ""
        return render(request, "operations.html", page="operations", records=page.records, next_link=next_link,
                      kind=kind or "", state_=state_ or "", kinds=ops().kinds())

    @app.get("/operations/{operation_id}", response_class=HTMLResponse)
    async def operation(request: Request, operation_id: str) -> Response:
        record = await ops().get(_op_id(operation_id))
        return render(request, "operation.html", page="operations", op=record)

    @app.post("/operations/{operation_id}/cancel")
    async def cancel(request: Request, operation_id: str) -> Response:
        await posted(request)
        record = await ops().cancel(_op_id(operation_id))
        return RedirectResponse(f"/operations/{record.id}", status_code=303)

    @app.post("/operations/{operation_id}/resume")
    async def resume(request: Request, operation_id: str) -> Response:
        await posted(request)
        record = await ops().resume(_op_id(operation_id))
        return RedirectResponse(f"/operations/{record.id}", status_code=303)

    @app.get("/api/operations/{operation_id}")
    async def operation_json(operation_id: str) -> Response:
        return JSONResponse(_op_json(await ops().get(_op_id(operation_id))))

    @app.get("/api/operations/{operation_id}/events")
    async def events(request: Request, operation_id: str, after: int = 0) -> Response:
        """Server-sent events of one operation: its stored history, then live ones until it is done."""
        operations_ = ops()
        record = await operations_.get(_op_id(operation_id))

        async def stream() -> AsyncIterator[bytes]:
            yield _sse("state", {"operation": _op_json(record)}, None)
            iterator = operations_.watch(record.id, after).__aiter__()
            while True:
                try:
                    event, current = await asyncio.wait_for(iterator.__anext__(), timeout=15)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keep-alive\n\n"
                    continue
                except StopAsyncIteration:
                    yield _sse("end", {"operation": _op_json(await operations_.get(record.id))}, None)
                    return
                payload: dict[str, Any] = {"payload": event.payload, "time": event.time}
                if current is not None:
                    payload["operation"] = _op_json(current)
                yield _sse(event.kind, payload, event.sequence)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # -- 3. graph explorer ---------------------------------------------------------------------------
    @app.get("/graph", response_class=HTMLResponse)
    async def graph(request: Request, q: str = "", discipline: str = "", after_key: str = "",
                    after_id: str = "") -> Response:
        found = None
        if q:
            after = (after_key, after_id) if after_key and after_id else None
            found = await run_in_threadpool(reader.search, q, discipline or None, after)
        disciplines = await run_in_threadpool(reader.disciplines)
        return render(request, "graph.html", page="graph", q=q, discipline=discipline, found=found,
                      disciplines=disciplines)

    @app.get("/graph/concept/{concept_id}", response_class=HTMLResponse)
    async def concept(request: Request, concept_id: str) -> Response:
        data = await run_in_threadpool(reader.concept_card, concept_id)
        return render(request, "concept.html", page="graph", **data, relation_types=sorted(reader.knowledge.vocabulary))

    @app.get("/api/graph/neighbours")
    async def neighbours(id: str, types: str = "", depth: int = 1, limit: int = 60) -> Response:
        wanted = tuple(t for t in types.split(",") if t)
        return JSONResponse(await run_in_threadpool(reader.neighbourhood, id, wanted, depth, limit))

    @app.get("/graph/relation/{relation_id}", response_class=HTMLResponse)
    async def relation(request: Request, relation_id: str, at: str = "") -> Response:
        data = await run_in_threadpool(reader.relation, relation_id, at)
        return render(request, "chunk.html", page="graph", chunk=data["chunk"], parts=data["parts"],
                      relation=data["relation"])

    @app.get("/graph/chain/{chain_id}", response_class=HTMLResponse)
    async def chain(request: Request, chain_id: str) -> Response:
        detail = await run_in_threadpool(reader.chain, chain_id)
        return render(request, "chain.html", page="graph", chain=detail)

    # -- 4. benchmark --------------------------------------------------------------------------------
    @app.get("/bench", response_class=HTMLResponse)
    async def bench(request: Request, name: str = "", page: int = 1, discipline: str = "",
                    split: str = "") -> Response:
        benchmarks = await run_in_threadpool(reader.benchmarks)
        name = name or next(iter(benchmarks), "")
        items = (await run_in_threadpool(reader.bench_page, name, page, discipline or None, split or None)
                 if name else [])
        checks = [r for r in await recent(20, studio_jobs.CHECK_BENCHMARK) if r.spec.get("name") == name]
        return render(request, "bench.html", page="bench", benchmarks=benchmarks, name=name,
                      items=items[:PAGE_SIZE], more=len(items) > PAGE_SIZE, page_no=page, discipline=discipline,
                      split=split, last_check=checks[0] if checks else None,
                      forms=[job_form(k) for k in (job_kinds.BUILD_BENCHMARK, studio_jobs.CHECK_BENCHMARK,
                                                   studio_jobs.EXPORT_BENCHMARK)])

    @app.get("/bench/item/{item_id}", response_class=HTMLResponse)
    async def bench_item(request: Request, item_id: str, run: str = "") -> Response:
        data = await run_in_threadpool(reader.bench_item, item_id)
        return render(request, "item.html", page="bench", **data, run=run)

    # -- 5. training and evaluation ------------------------------------------------------------------
    @app.get("/training", response_class=HTMLResponse)
    async def training(request: Request) -> Response:
        picked = request.query_params.getlist("pick")

        def read() -> dict[str, Any]:
            runs = reader.eval_runs(50)
            chosen = picked or [r["id"] for r in runs[:3]][::-1]
            return {"train_runs": reader.training_runs(), "eval_runs": runs,
                    "compared": [reader.eval_run(c) for c in chosen[:6]]}
        data = await run_in_threadpool(read)
        loss_option = charts.lines([(r["name"], r["losses"]) for r in data["train_runs"] if r["losses"]])
        return render(request, "training.html", page="training", **data, loss_option=loss_option,
                      forms=[job_form(k) for k in (job_kinds.TRAIN_MODEL, job_kinds.EVALUATE_MODEL,
                                                   job_kinds.BUILD_TRAINING_DATA)],
                      operations=await recent(6, job_kinds.TRAIN_MODEL) + await recent(6, job_kinds.EVALUATE_MODEL))

    # -- 6. debugger ---------------------------------------------------------------------------------
    @app.get("/debug", response_class=HTMLResponse)
    async def debug(request: Request, run: str = "", page: int = 1) -> Response:
        runs = await run_in_threadpool(reader.eval_runs, 50)
        run = run or next((r["id"] for r in runs if (r["wrong"] or 0) > 0), runs[0]["id"] if runs else "")

        def read() -> dict[str, Any]:
            if not run:
                return {"trace": None}
            trace = reader.traceback(run)
            return {"trace": trace, "heatmap": reader.heatmap(trace.run_id),
                    "failed": reader.run_items(trace.run_id, page), "diagnoses": reader.diagnoses(trace.run_id),
                    "patch_sets": reader.patch_sets(trace.run_id)}
        data = await run_in_threadpool(read)
        loop_form = job_form(studio_jobs.RUN_LOOP)
        if data.get("heatmap"):
            h = data["heatmap"]
            data["heatmap_option"] = charts.heatmap(h["types"], h["concepts"], h["data"])
        return render(request, "debug.html", page="debug", runs=runs, run=run, page_no=page, **data,
                      patch_form=job_form(job_kinds.GENERATE_PATCHES), loop_form=loop_form,
                      reports=await run_in_threadpool(reader.loop_reports),
                      operations=await recent(5, studio_jobs.RUN_LOOP) + await recent(5, job_kinds.GENERATE_PATCHES))

    @app.get("/debug/patches/{name}", response_class=HTMLResponse)
    async def patches(request: Request, name: str, after: str = "") -> Response:
        rows = await run_in_threadpool(reader.patches, name, after)
        return render(request, "patches.html", page="debug", name=name, rows=rows[:PAGE_SIZE],
                      next_after=rows[PAGE_SIZE - 1]["id"] if len(rows) > PAGE_SIZE else "")

    # -- 7. Cypher console ---------------------------------------------------------------------------
    @app.get("/query", response_class=HTMLResponse)
    async def query_list(request: Request) -> Response:
        queries = reader.knowledge.named_queries()
        return render(request, "queries.html", page="query", queries=queries)

    @app.get("/query/{name}", response_class=HTMLResponse)
    async def query(request: Request, name: str) -> Response:
        q = reader.store.catalog.get(name)
        if not q.read_only:
            raise InputError(f"query {name!r} writes to the graph; the console runs read-only catalog queries only")
        given = {p.name: request.query_params.get(p.name, "") for p in q.params}
        result, error, status, bound = None, "", 200, None
        if request.query_params.get("run"):
            params = {k: v for k, v in given.items() if v != ""}
            try:
                bound = bind_parameters(q, params)
                request_ = validated(NamedQueryRequest, name=name, params=params, row_limit=500)
                result = await run_in_threadpool(reader.knowledge.run_named, request_, reader.deadline())
            except InputError as e:
                error, status = str(e), 400
        return render(request, "query.html", status=status, page="query", q=q, given=given, result=result,
                      error=error, text=q.text(reader.store.backend), browser=_neo4j_browser(q, bound, given))

    return app


class _Refused(Exception):
    """A write refused by the CSRF check (403)."""


def _plain(status: int, message: str) -> Response:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def _number(text: str, kind: type, name: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise InputError(f"{name}: {text!r} is not a {'number' if kind is float else 'whole number'}") from None


def _op_id(value: str) -> str:
    if not value.startswith("op_") or len(value) > 64:
        raise InputError(f"{value[:80]!r} is not an operation id (op_...)")
    return value


def _keyset(before: str | None) -> tuple[float, str] | None:
    if not before:
        return None
    at, _, op = before.partition(":")
    try:
        return float(at), _op_id(op)
    except ValueError:
        raise InputError("before: not a position this page gave") from None


def _op_json(r: OperationRecord) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "label": KIND_LABELS.get(r.kind, r.kind), "state": r.state.value,
            "done": r.done, "attempt": r.attempt,
            "progress": {"done": r.progress.done, "total": r.progress.total, "message": r.progress.message},
            "error": None if r.error is None else {"code": r.error.code, "message": r.error.message,
                                                   "resumable": r.error.resumable},
            "result": r.result, "create_time": r.create_time, "end_time": r.end_time}


def _sse(kind: str, data: Mapping[str, Any], sequence: int | None) -> bytes:
    head = f"id: {sequence}\n" if sequence is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()


def _neo4j_browser(q: Any, bound: Mapping[str, Any] | None, given: Mapping[str, str]) -> str:
    """The query as Neo4j Browser takes it: one ``:param`` line per parameter, then the text."""
    values: dict[str, Any] = dict(bound) if bound is not None else {}
    if bound is None:
        for p in q.params:
            raw = given.get(p.name, "")
            try:
                values[p.name] = p.coerce(raw if raw != "" else p.default, q.name)
            except InputError:
                values[p.name] = raw
    lines = [f":param {name} => {json.dumps(value)};" for name, value in values.items()]
    return "\n".join([*lines, q.text("neo4j")])

