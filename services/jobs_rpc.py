"""``SynthesisService``, ``EvaluationService`` and ``TrainingService``: start RPCs of long-running jobs.

Each RPC turns its request into the job's parameter values (only the fields the caller set, so the
job's own defaults apply), and the :class:`Supervisor` validates and queues the operation. A kind
whose stage is not installed answers FAILED_PRECONDITION from the registry, before its parameters
are looked at.
"""

from __future__ import annotations

from typing import Any

import grpc

from proda.errors import InputError
from proda.services import convert, jobs
from proda.services.loop_bridge import LoopBridge
from proda.services.supervisor import Supervisor
from proda.v1 import evaluation_pb2 as epb
from proda.v1 import evaluation_pb2_grpc, synthesis_pb2_grpc, training_pb2_grpc
from proda.v1 import synthesis_pb2 as spb
from proda.v1 import training_pb2 as tpb
from proda.v1.operations_pb2 import Operation

Context = grpc.ServicerContext


def _set(values: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """``values`` plus the ``fields`` that are not proto3's "unset" (empty string, zero, empty list)."""
    values.update({k: v for k, v in fields.items() if v not in ("", 0, None) and v != []})
    return values


def extract_values(r: spb.ExtractKnowledgeRequest) -> dict[str, Any]:
    """The extraction job's parameter values of an ExtractKnowledge request."""
    values = _set({}, discipline=r.discipline, backend=r.backend, model=r.model, batch_size=r.batch_size)
    if r.HasField("max_cost"):
        values["max_cost"] = r.max_cost
    if r.HasField("max_tokens"):
        values["max_tokens"] = r.max_tokens
    return values


def check_values(r: spb.CheckStructureRequest) -> dict[str, Any]:
    """The structural check's parameter values of a CheckStructure request."""
    return _set({}, discipline=r.discipline)


def benchmark_values(r: spb.BuildBenchmarkRequest) -> dict[str, Any]:
    """The benchmark build's parameter values of a BuildBenchmark request."""
    values = _set({}, name=r.name, discipline=r.discipline, seed=r.seed, splits=list(r.splits))
    for name in ("per_discipline", "test_ratio", "dev_ratio", "distractors", "max_steps"):
        if r.HasField(name):
            values[name] = getattr(r, name)
    return values


def options_values(r: Any, *fields: str) -> dict[str, Any]:
    """Parameter values of a request made of plain fields plus an ``options`` map: the options are the
    stage's recipe (its config's fields) and the plain fields that are set win, as flags win over a recipe."""
    return _set(convert.map_to_dict(r.options), **{f: getattr(r, f) for f in fields})


def patch_values(r: spb.GeneratePatchesRequest) -> dict[str, Any]:
    """The Debugger job's parameter values of a GeneratePatches request (``eval_run_id`` is the config's
    ``run``); raises :class:`InputError` naming ``eval_run_id`` when no run is given."""
    values = options_values(r, "discipline")
    if r.eval_run_id:
        values["run"] = r.eval_run_id
    if r.diagnose_only:
        values["diagnose_only"] = True
    if not values.get("run"):
        raise InputError("eval_run_id: give the evaluation run whose failed items to patch, by id (evr_...) or name")
    return values


class _Jobs:
    def __init__(self, supervisor: Supervisor, loop: LoopBridge) -> None:
        self.supervisor = supervisor
        self.loop = loop

    def _start(self, kind: str, values: dict[str, Any], request_id: str, context: Context) -> Operation:
        record = self.loop.run(self.supervisor.submit(kind, values, request_id or None), context)
        return convert.operation_to_proto(record)


class SynthesisServicer(_Jobs, synthesis_pb2_grpc.SynthesisServiceServicer):
    """Extraction, structural check, benchmarks, training data and patches as operations."""

    def ExtractKnowledge(self, request: spb.ExtractKnowledgeRequest,
                               context: Context) -> spb.ExtractKnowledgeResponse:
        op = self._start(jobs.EXTRACT_KNOWLEDGE, extract_values(request), request.request_id, context)
        return spb.ExtractKnowledgeResponse(operation=op)

    def CheckStructure(self, request: spb.CheckStructureRequest,
                             context: Context) -> spb.CheckStructureResponse:
        op = self._start(jobs.CHECK_STRUCTURE, check_values(request), request.request_id, context)
        return spb.CheckStructureResponse(operation=op)

    def BuildBenchmark(self, request: spb.BuildBenchmarkRequest,
                             context: Context) -> spb.BuildBenchmarkResponse:
        op = self._start(jobs.BUILD_BENCHMARK, benchmark_values(request), request.request_id, context)
        return spb.BuildBenchmarkResponse(operation=op)

    def BuildTrainingData(self, request: spb.BuildTrainingDataRequest,
                                context: Context) -> spb.BuildTrainingDataResponse:
        op = self._start(jobs.BUILD_TRAINING_DATA, options_values(request, "discipline"), request.request_id, context)
        return spb.BuildTrainingDataResponse(operation=op)

    def GeneratePatches(self, request: spb.GeneratePatchesRequest,
                              context: Context) -> spb.GeneratePatchesResponse:
        op = self._start(jobs.GENERATE_PATCHES, patch_values(request), request.request_id, context)
        return spb.GeneratePatchesResponse(operation=op)


class EvaluationServicer(_Jobs, evaluation_pb2_grpc.EvaluationServiceServicer):
    """Model evaluation as operations."""

    def EvaluateModel(self, request: epb.EvaluateModelRequest, context: Context) -> epb.EvaluateModelResponse:
        values = options_values(request, "model", "benchmark", "split")
        op = self._start(jobs.EVALUATE_MODEL, values, request.request_id, context)
        return epb.EvaluateModelResponse(operation=op)


class TrainingServicer(_Jobs, training_pb2_grpc.TrainingServiceServicer):
    """Fine-tuning as operations."""

    def TrainModel(self, request: tpb.TrainModelRequest, context: Context) -> tpb.TrainModelResponse:
        values = options_values(request, "base_model", "dataset")
        op = self._start(jobs.TRAIN_MODEL, values, request.request_id, context)
        return tpb.TrainModelResponse(operation=op)
