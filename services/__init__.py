"""ProDa's gRPC API (package ``proda.v1``, protos in ``proto/``; ``proda serve`` runs it).

- :mod:`~proda.services.server`: assembly, health, TLS, graceful shutdown, ``serve`` and ``BackgroundServer``
- :mod:`~proda.knowledge` (domain) and :mod:`~proda.services.knowledge_rpc` (servicer): graph reads
- :mod:`~proda.services.jobs` (job kinds), :mod:`~proda.services.supervisor` (worker processes),
  :mod:`~proda.services.worker` (the job process), :mod:`~proda.services.operations` (the durable store),
  :mod:`~proda.services.jobs_rpc` and :mod:`~proda.services.operations_rpc` (servicers)
- :mod:`~proda.services.interceptors` (request ids, access log, error -> status), :mod:`~proda.services.auth`,
  :mod:`~proda.services.errors` (the status mapping), :mod:`~proda.services.convert`, :mod:`~proda.services.paging`
- :mod:`~proda.services.client`: the typed client; :mod:`~proda.services.codegen`: generates ``proda.v1``
"""
