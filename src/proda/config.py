"""Settings, validated once at the entry point (environment variables ``PRODA_*``).

Secrets come from the environment only. Validator messages say how to fix the problem.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_GRAPH_SCHEMES = ("falkordb", "redis", "neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")


class Settings(BaseSettings):
    """Where ProDa keeps its state and which graph it talks to."""

    model_config = SettingsConfigDict(env_prefix="PRODA_", extra="ignore")

    home: Path = Field(
        default=Path(".proda"),
        description="State directory: embedded graph data, runs, caches (PRODA_HOME).",
    )
    graph_url: str | None = Field(
        default=None,
        description="falkordb://host:port or neo4j://host:port / bolt://host:port (PRODA_GRAPH_URL). "
        "Unset: ProDa starts its own embedded FalkorDB under PRODA_HOME.",
    )
    graph_name: str = Field(default="proda", description="FalkorDB graph key (PRODA_GRAPH_NAME).")
    neo4j_database: str | None = Field(default=None, description="Neo4j database (PRODA_NEO4J_DATABASE); "
                                       "unset: the server's default database.")
    neo4j_user: str = Field(default="neo4j", description="Neo4j user (PRODA_NEO4J_USER).")
    neo4j_password: SecretStr | None = Field(default=None, description="Neo4j password (PRODA_NEO4J_PASSWORD).")
    batch_size: int = Field(default=5000, ge=1, le=100_000, description="Rows per UNWIND write batch.")
    query_timeout_ms: int = Field(default=60_000, ge=1, description="Per-query time limit.")

    @field_validator("graph_url")
    @classmethod
    def _known_scheme(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        scheme = urlparse(v).scheme
        if scheme not in _GRAPH_SCHEMES:
            raise ValueError(
                f"PRODA_GRAPH_URL={v!r} has scheme {scheme!r}; use falkordb://host:port for FalkorDB "
                "or neo4j://host:port / bolt://host:port for Neo4j, or unset it for the embedded graph"
            )
        return v

    @field_validator("graph_name")
    @classmethod
    def _safe_graph_name(cls, v: str) -> str:
        if not v or not all(ch.isalnum() or ch in "_-" for ch in v):
            raise ValueError(f"PRODA_GRAPH_NAME={v!r}: use letters, digits, '_' or '-'")
        return v

    @property
    def backend(self) -> str:
        """``falkordb`` or ``neo4j``, from the URL scheme (embedded FalkorDB when no URL)."""
        if self.graph_url is None:
            return "falkordb"
        scheme = urlparse(self.graph_url).scheme
        return "falkordb" if scheme in ("falkordb", "redis") else "neo4j"
