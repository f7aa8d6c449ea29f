"""A typed, synchronous Python client of a ProDa server (what the CLI's ``--remote`` mode uses).

Answers come back as the same domain types the server's knowledge layer and operation store use
(:mod:`proda.knowledge`, :mod:`proda.services.operations`), and failed calls raise the same
ProDa errors a local run would (:func:`proda.services.errors.error_for_status`)::

    with ProdaClient.from_url("grpc://127.0.0.1:50051") as client:
        card = client.get_concept("con_...")
        report = client.run_job(client.check_structure())

Job starts always carry a request id (a fresh one unless given), so a start that is retried after a
lost answer returns the first operation instead of starting a second.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlparse

import grpc
from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health_pb2, health_pb2_grpc

from proda.config import Settings
from proda.errors import ConfigError, ProdaError, QueryTimeout
from proda.knowledge import (
    ChainDetail,
    ConceptCard,
    ConceptMatch,
    Direction,
    Neighbourhood,
    NeighbourRequest,
    QueryResult,
    RunTraceback,
    RunTracebackRequest,
    Traceback,
    validated,
)
from proda.services import convert
from proda.services.errors import error_for_status
from proda.services.operations import OperationEvent, OperationRecord, OperationState
from proda.v1 import evaluation_pb2 as epb
from proda.v1 import knowledge_pb2 as kpb
from proda.v1 import operations_pb2 as opb
from proda.v1 import synthesis_pb2 as spb
from proda.v1 import training_pb2 as tpb
from proda.v1.evaluation_pb2_grpc import EvaluationServiceStub
from proda.v1.knowledge_pb2_grpc import KnowledgeServiceStub
from proda.v1.operations_pb2_grpc import OperationsServiceStub
from proda.v1.synthesis_pb2_grpc import SynthesisServiceStub
from proda.v1.training_pb2_grpc import TrainingServiceStub

T = TypeVar("T")
DEFAULT_PORT = 50051
WAIT_SLICE_S = 30.0  # one WaitOperation call; the client loops until done or its own timeout


def parse_url(url: str) -> tuple[str, bool]:
    """``(host:port, tls)`` of ``grpc://host:port``, ``grpcs://host:port`` or a bare ``host:port``."""
    parsed = urlparse(url if "://" in url else f"grpc://{url}")
    if parsed.scheme not in ("grpc", "grpcs") or not parsed.hostname:
        raise ConfigError(f"--remote {url!r}: use grpc://host:port, or grpcs://host:port for TLS")
    try:
        port = parsed.port or DEFAULT_PORT
    except ValueError as e:
        raise ConfigError(f"--remote {url!r}: {e}") from e
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return f"{host}:{port}", parsed.scheme == "grpcs"


class ProdaClient:
    """Calls a ProDa server over one channel; every call has a deadline (``timeout_s``)."""

    def __init__(self, target: str, *, token: str | None = None, tls: bool = False,
                 root_certificates: bytes | None = None, timeout_s: float = 30.0,
                 max_message_bytes: int = 4 * 1024 * 1024) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        if tls:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self.knowledge = KnowledgeServiceStub(self._channel)
        self.operations = OperationsServiceStub(self._channel)
        self.synthesis = SynthesisServiceStub(self._channel)
        self.evaluation = EvaluationServiceStub(self._channel)
        self.training = TrainingServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    @classmethod
    def from_url(cls, url: str, settings: Settings | None = None, **options: Any) -> ProdaClient:
        """A client for ``url`` with the token (PRODA_API_TOKEN) and CA (PRODA_GRPC_TLS_CA) of ``settings``."""
        settings = settings or Settings()
        target, tls = parse_url(url)
        roots = None
        if tls and settings.grpc_tls_ca is not None:
            try:
                roots = settings.grpc_tls_ca.read_bytes()
            except OSError as e:
                raise ConfigError(f"cannot read PRODA_GRPC_TLS_CA {settings.grpc_tls_ca}: {e}") from e
        token = settings.api_token.get_secret_value() if settings.api_token else None
        return cls(target, token=token, tls=tls, root_certificates=roots,
                   max_message_bytes=settings.grpc_max_message_bytes, **options)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> ProdaClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _call(self, method: Callable[..., T], request: Any, timeout_s: float | None = None) -> T:
        try:
            return method(request, timeout=timeout_s or self.timeout_s, metadata=self._metadata)
        except grpc.RpcError as e:
            raise self._error(e) from e

    def _error(self, e: grpc.RpcError) -> ProdaError:
        # raised errors are grpc.Call objects as well; a bare RpcError carries no status
        code = e.code() if callable(getattr(e, "code", None)) else grpc.StatusCode.UNKNOWN
        details = (e.details() if callable(getattr(e, "details", None)) else None) or str(e)
        return error_for_status(code, details, target=self.target)

    def health(self, service: str = "") -> str:
        """The health status name of ``service`` ("" for the whole server), e.g. ``"SERVING"``."""
        response = self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service))
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    # -- knowledge -----------------------------------------------------------------------------------
    def get_concept(self, concept_id: str) -> ConceptCard:
        """One concept; raises :class:`~proda.errors.NotFound` when there is none."""
        response = self._call(self.knowledge.GetConcept, kpb.GetConceptRequest(id=concept_id))
        return convert.concept_from_proto(response.concept)

    def search_concepts(self, query: str, *, discipline: str | None = None,
                        page_size: int = 20) -> Iterator[ConceptMatch]:
        """Every concept whose normalised name starts with ``query``, fetched a page at a time."""
        token = ""
        while True:
            response = self._call(self.knowledge.SearchConcepts, kpb.SearchConceptsRequest(
                query=query, discipline=discipline or "", page_size=page_size, page_token=token))
            yield from (convert.match_from_proto(m) for m in response.matches)
            token = response.next_page_token
            if not token:
                return

    def neighbours(self, concept_id: str, *, relation_types: Sequence[str] = (), direction: Direction = "both",
                   depth: int = 1, limit: int = 100) -> Neighbourhood:
        """Concepts within ``depth`` relation steps of ``concept_id``."""
        request = NeighbourRequest(concept_id=concept_id, relation_types=tuple(relation_types), direction=direction,
                                   depth=depth, limit=limit)
        response = self._call(self.knowledge.GetNeighbors, convert.neighbour_request_to_proto(request))
        return convert.neighbourhood_from_proto(response)

    def chain(self, chain_id: str) -> ChainDetail:
        """One L3 chain, step by step."""
        return convert.chain_from_proto(self._call(self.knowledge.GetChain, kpb.GetChainRequest(id=chain_id)).chain)

    def traceback_item(self, item_id: str) -> Traceback:
        """A benchmark item traced back to its chain's nodes."""
        return convert.traceback_from_proto(self._call(self.knowledge.Traceback, kpb.TracebackRequest(item_id=item_id)))

    def traceback_run(self, run: str, *, discipline: str | None = None, min_support: int = 1,
                      top: int = 20) -> RunTraceback:
        """An evaluation run (id or name) traced back to the nodes its wrong answers rest on, worst first."""
        request = validated(RunTracebackRequest, run=run, discipline=discipline, min_support=min_support, top=top)
        response = self._call(self.knowledge.Traceback, convert.run_traceback_request_to_proto(request))
        return convert.run_traceback_from_proto(response)

    def named_queries(self) -> list[kpb.NamedQuery]:
        """The server's read-only catalog queries."""
        out: list[kpb.NamedQuery] = []
        token = ""
        while True:
            response = self._call(self.knowledge.ListNamedQueries, kpb.ListNamedQueriesRequest(page_token=token))
            out.extend(response.queries)
            token = response.next_page_token
            if not token:
                return out

    def run_named_query(self, name: str, params: Mapping[str, Any] | None = None, *,
                        row_limit: int | None = None, timeout_s: float | None = None) -> QueryResult:
        """Run a read-only catalog query on the server (string values are typed by the query's header)."""
        request = kpb.RunNamedQueryRequest(name=name, row_limit=row_limit or 0)
        convert.fill_map(request.parameters, params or {})
        return convert.query_result_from_proto(self._call(self.knowledge.RunNamedQuery, request, timeout_s))

    # -- jobs ----------------------------------------------------------------------------------------
    @staticmethod
    def _request_id(request_id: str | None) -> str:
        return request_id or uuid.uuid4().hex

    def check_structure(self, discipline: str | None = None, *, request_id: str | None = None) -> OperationRecord:
        """Start the structural check; returns its operation."""
        request = spb.CheckStructureRequest(request_id=self._request_id(request_id), discipline=discipline or "")
        return convert.operation_from_proto(self._call(self.synthesis.CheckStructure, request).operation)

    def extract_knowledge(self, *, discipline: str | None = None, backend: str = "", model: str = "",
                          max_cost: float | None = None, max_tokens: int | None = None, batch_size: int = 0,
                          request_id: str | None = None) -> OperationRecord:
        """Start an extraction run; returns its operation."""
        request = spb.ExtractKnowledgeRequest(request_id=self._request_id(request_id), discipline=discipline or "",
                                              backend=backend, model=model, batch_size=batch_size)
        if max_cost is not None:
            request.max_cost = max_cost
        if max_tokens is not None:
            request.max_tokens = max_tokens
        return convert.operation_from_proto(self._call(self.synthesis.ExtractKnowledge, request).operation)

    def build_benchmark(self, *, name: str = "", discipline: str | None = None, seed: int = 0,
                        request_id: str | None = None, **optional: Any) -> OperationRecord:
        """Start a benchmark build; ``optional`` takes the request's optional fields (per_discipline...)."""
        request = spb.BuildBenchmarkRequest(request_id=self._request_id(request_id), name=name,
                                            discipline=discipline or "", seed=seed, **optional)
        return convert.operation_from_proto(self._call(self.synthesis.BuildBenchmark, request).operation)

    def build_training_data(self, *, discipline: str | None = None, options: Mapping[str, Any] | None = None,
                            request_id: str | None = None) -> OperationRecord:
        """Start a training-data build (Builder); ``options`` are BuildConfig fields."""
        request = spb.BuildTrainingDataRequest(request_id=self._request_id(request_id), discipline=discipline or "")
        convert.fill_map(request.options, options or {})
        return convert.operation_from_proto(self._call(self.synthesis.BuildTrainingData, request).operation)

    def generate_patches(self, eval_run: str, *, discipline: str | None = None, diagnose_only: bool = False,
                         options: Mapping[str, Any] | None = None, request_id: str | None = None) -> OperationRecord:
        """Start the Debugger on evaluation run ``eval_run`` (id or name): diagnose its failed items and
        write patch sets; ``options`` are PatchConfig fields (budget, replay_ratio, force...)."""
        request = spb.GeneratePatchesRequest(request_id=self._request_id(request_id), eval_run_id=eval_run,
                                             discipline=discipline or "", diagnose_only=diagnose_only)
        convert.fill_map(request.options, options or {})
        return convert.operation_from_proto(self._call(self.synthesis.GeneratePatches, request).operation)

    def evaluate_model(self, model: str, benchmark: str, *, options: Mapping[str, Any] | None = None,
                       request_id: str | None = None) -> OperationRecord:
        """Start an evaluation; ``options`` are EvalConfig fields (mode, limit, run_name...)."""
        request = epb.EvaluateModelRequest(request_id=self._request_id(request_id), model=model, benchmark=benchmark)
        convert.fill_map(request.options, options or {})
        return convert.operation_from_proto(self._call(self.evaluation.EvaluateModel, request).operation)

    def train_model(self, base_model: str, dataset: str, *, options: Mapping[str, Any] | None = None,
                    request_id: str | None = None) -> OperationRecord:
        """Start a training run; ``options`` are TrainConfig fields (run_name, max_steps, method...)."""
        request = tpb.TrainModelRequest(request_id=self._request_id(request_id), base_model=base_model,
                                        dataset=dataset)
        convert.fill_map(request.options, options or {})
        return convert.operation_from_proto(self._call(self.training.TrainModel, request).operation)

    # -- operations ----------------------------------------------------------------------------------
    def operation(self, operation_id: str) -> OperationRecord:
        """One operation."""
        response = self._call(self.operations.GetOperation, opb.GetOperationRequest(id=operation_id))
        return convert.operation_from_proto(response.operation)

    def list_operations(self, *, kind: str | None = None, state: OperationState | None = None,
                        page_size: int = 50) -> Iterator[OperationRecord]:
        """Operations newest first, a page at a time."""
        token = ""
        while True:
            wanted = convert.state_to_proto(state) if state else opb.OPERATION_STATE_UNSPECIFIED
            request = opb.ListOperationsRequest(kind=kind or "", page_size=page_size, page_token=token, state=wanted)
            response = self._call(self.operations.ListOperations, request)
            yield from (convert.operation_from_proto(o) for o in response.operations)
            token = response.next_page_token
            if not token:
                return

    def cancel(self, operation_id: str) -> OperationRecord:
        """Cancel an operation; returns it once its worker is gone."""
        response = self._call(self.operations.CancelOperation, opb.CancelOperationRequest(id=operation_id))
        return convert.operation_from_proto(response.operation)

    def resume(self, operation_id: str) -> OperationRecord:
        """Run a failed-resumable or cancelled operation again."""
        response = self._call(self.operations.ResumeOperation, opb.ResumeOperationRequest(id=operation_id))
        return convert.operation_from_proto(response.operation)

    def wait(self, operation_id: str, timeout_s: float | None = None) -> OperationRecord:
        """The operation once done, or as it is after ``timeout_s`` (None: no limit)."""
        until = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            slice_s = WAIT_SLICE_S if until is None else max(0.0, min(WAIT_SLICE_S, until - time.monotonic()))
            request = opb.WaitOperationRequest(id=operation_id, timeout=Duration(seconds=int(slice_s),
                                                                                 nanos=int(slice_s % 1 * 1e9)))
            response = self._call(self.operations.WaitOperation, request, slice_s + 10)
            record = convert.operation_from_proto(response.operation)
            if record.done or (until is not None and time.monotonic() >= until):
                return record

    def watch(self, operation_id: str, after: int = 0,
              timeout_s: float | None = None) -> Iterator[tuple[OperationEvent, OperationRecord | None]]:
        """Events of an operation from ``after`` on, until it is done (or ``timeout_s`` passes)."""
        stream = self.operations.WatchOperation(opb.WatchOperationRequest(id=operation_id, after_sequence=after),
                                                timeout=timeout_s, metadata=self._metadata)
        try:
            for response in stream:
                record = convert.operation_from_proto(response.operation) if response.HasField("operation") else None
                yield convert.event_from_proto(operation_id, response.event), record
        except grpc.RpcError as e:
            raise self._error(e) from e
        finally:
            stream.cancel()

    def run_job(self, record: OperationRecord, timeout_s: float | None = None) -> dict[str, Any]:
        """Wait for a started operation and return its result; raises the ProDa error it failed with."""
        record = self.wait(record.id, timeout_s)
        if record.state == OperationState.SUCCEEDED:
            return record.result or {}
        if not record.done:
            raise QueryTimeout(f"operation {record.id} is still {record.state.value} after {timeout_s} s")
        error = record.error
        code = grpc.StatusCode.__members__.get(error.code if error else "CANCELLED", grpc.StatusCode.UNKNOWN)
        raise error_for_status(code, error.message if error else "cancelled", target=self.target)
