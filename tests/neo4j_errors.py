"""Neo4j driver errors as the driver builds them, for tests that need no server."""

from __future__ import annotations

import neo4j.exceptions as ne


def server_error(code: str, message: str) -> ne.Neo4jError:
    """An error as the driver builds it from a server FAILURE message (its class follows the code)."""
    hydrate = getattr(ne.Neo4jError, "_hydrate_neo4j", None) or getattr(ne.Neo4jError, "hydrate", None)
    assert hydrate is not None, "neo4j driver without an error hydrator: update server_error()"
    error = hydrate(code=code, message=message)
    assert isinstance(error, ne.Neo4jError)
    return error
