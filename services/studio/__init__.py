"""ProDa Studio: the web IDE over the knowledge graph, served by ``proda studio``.

A transport over the same domain layer as the CLI and the gRPC services: pages read through
:mod:`proda.knowledge` and the named catalog, and actions start the job kinds of
:mod:`proda.services.jobs` (plus the Studio's own, :mod:`.jobs`) as durable operations
(:mod:`.hosting` explains who writes the operation store). Server-rendered HTML (FastAPI + Jinja);
charts use the ECharts bundle from the NiceGUI wheel; nothing is fetched from another host.
Access rules: :mod:`.security`.
"""

from proda.services.studio.app import create_app

__all__ = ["create_app"]
