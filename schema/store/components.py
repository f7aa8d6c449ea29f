"""Client-side connected components, the fallback where the database has no WCC procedure.

Hand-rolled because it is twenty lines: a union-find over the streamed adjacency of
``component_edges`` (networkx would add a dependency and hold the whole graph as Python objects).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Set
from typing import Any

from proda.schema.store.base import ComponentStats


def components_from_edges(rows: Iterable[Mapping[str, Any]], method: str,
                          exclude: Set[str] = frozenset()) -> list[ComponentStats]:
    """Group rows ``{id, discipline, neighbour}`` into per-discipline component statistics.

    Concepts in ``exclude`` (hubs, say) are left out with their edges, as if deleted from the graph.
    """
    parent: dict[str, str] = {}
    discipline_of: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for row in rows:
        a = row["id"]
        if a in exclude:
            continue
        parent.setdefault(a, a)
        discipline_of[a] = row["discipline"]
        b = row.get("neighbour")
        if b is None or b in exclude:
            continue
        parent.setdefault(b, b)
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    sizes: dict[str, Counter[str]] = defaultdict(Counter)
    for node, disc in discipline_of.items():
        sizes[disc][find(node)] += 1
    out = []
    for disc in sorted(sizes):
        counts = sizes[disc]
        total = sum(counts.values())
        giant = max(counts.values())
        out.append(ComponentStats(discipline=disc, components=len(counts), giant=giant, concepts=total,
                                  giant_share=giant / total, method=method))
    return out
