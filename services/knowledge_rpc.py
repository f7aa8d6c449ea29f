"""``KnowledgeService``: message in, domain call, message out.

The servicer only converts (:mod:`proda.services.convert`) and delegates to
:class:`~proda.knowledge.Knowledge`; errors are raised as ProDa errors and become statuses
in :mod:`proda.services.interceptors`. Each call runs on one of the server's handler threads and
makes its blocking graph call right there, with the call's remaining deadline as the database's
time limit: no hop to another thread or event loop on the hot path.
"""

from __future__ import annotations

import grpc

from proda.errors import InputError
from proda.knowledge import Deadline, Knowledge
from proda.services import convert, paging
from proda.services.loop_bridge import time_remaining
from proda.v1 import knowledge_pb2 as kpb
from proda.v1 import knowledge_pb2_grpc

Context = grpc.ServicerContext


class KnowledgeServicer(knowledge_pb2_grpc.KnowledgeServiceServicer):
    """Read access to concepts, neighbourhoods, chains, tracebacks and the named query catalog."""

    def __init__(self, knowledge: Knowledge, *, query_cap_ms: int) -> None:
        self.knowledge = knowledge
        self.query_cap_ms = query_cap_ms

    def _deadline(self, context: Context) -> Deadline:
        """The call's remaining time, capped per query, as the graph calls' deadline."""
        return Deadline.after(time_remaining(context), self.query_cap_ms)

    def GetConcept(self, request: kpb.GetConceptRequest, context: Context) -> kpb.GetConceptResponse:
        card = self.knowledge.concept(request.id, self._deadline(context))
        return kpb.GetConceptResponse(concept=convert.concept_to_proto(card))

    def SearchConcepts(self, request: kpb.SearchConceptsRequest,
                             context: Context) -> kpb.SearchConceptsResponse:
        filters = [request.query, request.discipline]
        query = convert.search_request(request, paging.decode(request.page_token, "SearchConcepts", filters))
        page = self.knowledge.search(query, self._deadline(context))
        token = paging.encode("SearchConcepts", filters, list(page.after)) if page.after else ""
        return kpb.SearchConceptsResponse(matches=[convert.match_to_proto(m) for m in page.matches],
                                          next_page_token=token)

    def GetNeighbors(self, request: kpb.GetNeighborsRequest, context: Context) -> kpb.GetNeighborsResponse:
        neighbourhood = self.knowledge.neighbours(convert.neighbour_request(request), self._deadline(context))
        return convert.neighbourhood_to_proto(neighbourhood)

    def GetChain(self, request: kpb.GetChainRequest, context: Context) -> kpb.GetChainResponse:
        chain = self.knowledge.chain(request.id, self._deadline(context))
        return kpb.GetChainResponse(chain=convert.chain_to_proto(chain))

    def Traceback(self, request: kpb.TracebackRequest, context: Context) -> kpb.TracebackResponse:
        target = request.WhichOneof("target")
        if target == "eval_run_id":
            run_request = convert.run_traceback_request(request)
            run_traceback = self.knowledge.traceback_run(run_request, self._deadline(context))
            return convert.run_traceback_to_proto(run_traceback)
        if target is None:
            raise InputError("target: set item_id or eval_run_id")
        for name in ("discipline", "min_support", "top"):
            if getattr(request, name):
                raise InputError(f"{name}: applies to an evaluation run's traceback (eval_run_id), not an item's")
        traceback = self.knowledge.traceback_item(request.item_id, self._deadline(context))
        return convert.traceback_to_proto(traceback)

    def ListNamedQueries(self, request: kpb.ListNamedQueriesRequest,
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

    def RunNamedQuery(self, request: kpb.RunNamedQueryRequest, context: Context) -> kpb.RunNamedQueryResponse:
        result = self.knowledge.run_named(convert.named_query_request(request), self._deadline(context))
        return convert.query_result_to_proto(result)
