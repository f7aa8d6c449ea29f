"""``KnowledgeService``: message in, domain call on the graph thread pool, message out.

The servicer only converts (:mod:`proda.services.convert`) and delegates to
:class:`~proda.knowledge.Knowledge`; errors are raised as ProDa errors and become statuses
in :mod:`proda.services.interceptors`. Graph calls block, so they run on a bounded thread pool, never
on the event loop, with the call's remaining deadline as their database time limit.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from grpc import aio

from proda.errors import InputError
from proda.knowledge import Deadline, Knowledge
from proda.services import convert, paging
from proda.v1 import knowledge_pb2 as kpb
from proda.v1 import knowledge_pb2_grpc

T = TypeVar("T")
Context = aio.ServicerContext[Any, Any]


class KnowledgeServicer(knowledge_pb2_grpc.KnowledgeServiceServicer):
    """Read access to concepts, neighbourhoods, chains, tracebacks and the named query catalog."""

    def __init__(self, knowledge: Knowledge, executor: Executor, *, query_cap_ms: int) -> None:
        self.knowledge = knowledge
        self.executor = executor
        self.query_cap_ms = query_cap_ms

    async def _graph(self, context: Context, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args, deadline)`` on the graph pool with the call's remaining time as its deadline."""
        deadline = Deadline.after(context.time_remaining(), self.query_cap_ms)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, deadline))

    async def GetConcept(self, request: kpb.GetConceptRequest, context: Context) -> kpb.GetConceptResponse:
        card = await self._graph(context, self.knowledge.concept, request.id)
        return kpb.GetConceptResponse(concept=convert.concept_to_proto(card))

    async def SearchConcepts(self, request: kpb.SearchConceptsRequest,
                             context: Context) -> kpb.SearchConceptsResponse:
        filters = [request.query, request.discipline]
        query = convert.search_request(request, paging.decode(request.page_token, "SearchConcepts", filters))
        page = await self._graph(context, self.knowledge.search, query)
        token = paging.encode("SearchConcepts", filters, list(page.after)) if page.after else ""
        return kpb.SearchConceptsResponse(matches=[convert.match_to_proto(m) for m in page.matches],
                                          next_page_token=token)

    async def GetNeighbors(self, request: kpb.GetNeighborsRequest, context: Context) -> kpb.GetNeighborsResponse:
        neighbourhood = await self._graph(context, self.knowledge.neighbours, convert.neighbour_request(request))
        return convert.neighbourhood_to_proto(neighbourhood)

    async def GetChain(self, request: kpb.GetChainRequest, context: Context) -> kpb.GetChainResponse:
        chain = await self._graph(context, self.knowledge.chain, request.id)
        return kpb.GetChainResponse(chain=convert.chain_to_proto(chain))

    async def Traceback(self, request: kpb.TracebackRequest, context: Context) -> kpb.TracebackResponse:
        target = request.WhichOneof("target")
        if target == "eval_run_id":
            run_request = convert.run_traceback_request(request)
            run_traceback = await self._graph(context, self.knowledge.traceback_run, run_request)
            return convert.run_traceback_to_proto(run_traceback)
        if target is None:
            raise InputError("target: set item_id or eval_run_id")
        for name in ("discipline", "min_support", "top"):
            if getattr(request, name):
                raise InputError(f"{name}: applies to an evaluation run's traceback (eval_run_id), not an item's")
        traceback = await self._graph(context, self.knowledge.traceback_item, request.item_id)
        return convert.traceback_to_proto(traceback)

    async def ListNamedQueries(self, request: kpb.ListNamedQueriesRequest,
                               context: Context) -> kpb.ListNamedQueriesResponse:
        if not 0 <= request.page_size <= 200:
            raise InputError("page_size: must be between 1 and 200 (0: 50)")
        size = request.page_size or 50
        after = paging.decode(request.page_token, "ListNamedQueries", [])
        queries = sorted(self.knowledge.named_queries(), key=lambda q: q.name)
        if after:
            queries = [q for q in queries if q.name > str(after[0])]
        page, more = queries[:size], len(queries) > size
        token = paging.encode("ListNamedQueries", [], [page[-1].name]) if more else ""
        return kpb.ListNamedQueriesResponse(queries=[convert.named_query_to_proto(q) for q in page],
                                            next_page_token=token)

    async def RunNamedQuery(self, request: kpb.RunNamedQueryRequest, context: Context) -> kpb.RunNamedQueryResponse:
        result = await self._graph(context, self.knowledge.run_named, convert.named_query_request(request))
        return convert.query_result_to_proto(result)
