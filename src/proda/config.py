"""Settings, validated once at the entry point (environment variables ``PRODA_*``).

Secrets come from the environment only. Validator messages say how to fix the problem. The entry
points (CLI, server, benchmark scripts) build a :class:`Settings` and hand it, or the part a stage
needs such as :class:`LLMSettings`, down to the stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from proda.errors import ConfigError

_GRAPH_SCHEMES = ("falkordb", "redis", "neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")

#: How an OpenAI-compatible server is made to answer in the schema (PRODA_OPENAI_GUIDED); see
#: :mod:`proda.pipelines.llm.openai_backend` and docs/llm-servers.md for which server takes which.
OpenAIGuided = Literal["json_schema", "json_object", "vllm", "none"]
OPENAI_GUIDED_MODES: tuple[OpenAIGuided, ...] = get_args(OpenAIGuided)


class LLMSettings(BaseSettings):
    """The LLM servers the LLM-backed stages talk to, and their keys (environment only).

    Each key is read from ProDa's own variable first, then from the one the provider's SDK reads
    (``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``), so an environment set up for the SDK works as is.
    An empty variable counts as unset.
    """

    model_config = SettingsConfigDict(env_prefix="PRODA_", extra="ignore", env_ignore_empty=True,
                                      validate_by_name=True, validate_by_alias=True)

    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("PRODA_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
        description="Anthropic API key (PRODA_ANTHROPIC_API_KEY, else ANTHROPIC_API_KEY).")
    anthropic_model: str | None = Field(default=None, description="Model of the anthropic backend when no --model "
                                        "is given (PRODA_ANTHROPIC_MODEL).")
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("PRODA_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="Key of the OpenAI platform or of a self-hosted server started with one (PRODA_OPENAI_API_KEY, "
        "else OPENAI_API_KEY); a self-hosted server may need none.")
    openai_base_url: str | None = Field(default=None, description="OpenAI-compatible server when no --base-url is "
                                        "given, e.g. http://localhost:8000/v1 for `vllm serve` (PRODA_OPENAI_BASE_URL)"
                                        "; unset: the OpenAI platform.")
    openai_model: str | None = Field(default=None, description="Model of the openai backend when no --model is given "
                                     "(PRODA_OPENAI_MODEL).")
    openai_guided: OpenAIGuided = Field(default="json_schema", description="How the openai backend enforces the JSON "
                                        "schema: json_schema, json_object, vllm or none (PRODA_OPENAI_GUIDED).")

    @field_validator("openai_guided", mode="before")
    @classmethod
    def _known_guided(cls, v: object) -> object:
        if v not in OPENAI_GUIDED_MODES:
            raise ValueError(f"PRODA_OPENAI_GUIDED={v!r}: use one of {', '.join(OPENAI_GUIDED_MODES)} "
                             "(docs/llm-servers.md says which server takes which)")
        return v

    @classmethod
    def from_environment(cls) -> LLMSettings:
        """Read the environment now; raises :class:`~proda.errors.ConfigError` naming a bad variable.

        For stages whose entry point did not hand them settings: they read the same variables.
        """
        try:
            return cls()
        except ValidationError as e:
            raise ConfigError(e.errors()[0]["msg"].removeprefix("Value error, ")) from e

    def anthropic_key(self) -> str | None:
        """The Anthropic key in clear, for the SDK client; None when unset."""
        return self.anthropic_api_key.get_secret_value() if self.anthropic_api_key else None

    def openai_key(self) -> str | None:
        """The OpenAI(-compatible) key in clear, for the SDK client; None when unset."""
        return self.openai_api_key.get_secret_value() if self.openai_api_key else None


class Settings(BaseSettings):
    """Where ProDa keeps its state, which graph and which LLM servers it talks to."""

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
    neo4j_retry_seconds: float | None = Field(
        default=None, ge=0, description="How long the Neo4j driver keeps retrying a transaction that failed with a "
        "retryable error such as a deadlock (PRODA_NEO4J_RETRY_SECONDS); unset: the driver's 30 s.")
    batch_size: int = Field(default=5000, ge=1, le=100_000, description="Rows per UNWIND write batch.")
    query_timeout_ms: int = Field(default=60_000, ge=1, description="Per-query time limit.")
    # Its own variables (PRODA_OPENAI_*, PRODA_ANTHROPIC_*, and the SDKs' key variables), read with the rest.
    llm: LLMSettings = Field(default_factory=LLMSettings, description="LLM backends: servers, models, keys.")

    # gRPC server (`proda serve`) and client (`--remote`)
    grpc_host: str = Field(default="127.0.0.1", description="Address `proda serve` listens on (PRODA_GRPC_HOST).")
    grpc_port: int = Field(default=50051, ge=0, le=65535, description="Port of `proda serve`; 0 picks a free one "
                           "(PRODA_GRPC_PORT).")
    api_tokens: SecretStr | None = Field(default=None, description="Bearer tokens the server accepts, comma-separated "
                                         "(PRODA_API_TOKENS). Unset: no authentication, allowed on loopback only.")
    api_token: SecretStr | None = Field(default=None, description="Bearer token the client sends with --remote "
                                        "(PRODA_API_TOKEN).")
    grpc_tls_cert: Path | None = Field(default=None, description="PEM certificate chain of the server; with "
                                       "PRODA_GRPC_TLS_KEY it serves TLS only (PRODA_GRPC_TLS_CERT).")
    grpc_tls_key: Path | None = Field(default=None, description="PEM private key of the server (PRODA_GRPC_TLS_KEY).")
    grpc_tls_client_ca: Path | None = Field(default=None, description="PEM CA bundle: when set, the server requires "
                                            "client certificates signed by it (PRODA_GRPC_TLS_CLIENT_CA).")
    grpc_tls_ca: Path | None = Field(default=None, description="PEM CA bundle the client trusts for grpcs:// "
                                     "servers; unset: the system roots (PRODA_GRPC_TLS_CA).")
    grpc_max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024,
                                        description="Largest request or response message "
                                        "(PRODA_GRPC_MAX_MESSAGE_BYTES).")
    grpc_row_limit: int = Field(default=10_000, ge=1, le=1_000_000, description="Most rows RunNamedQuery returns "
                                "(PRODA_GRPC_ROW_LIMIT).")
    grpc_max_jobs: int = Field(default=2, ge=0, le=64, description="Jobs run at once, each in its own process; more "
                               "wait queued. 0 accepts and queues jobs without running any (PRODA_GRPC_MAX_JOBS).")
    grpc_shutdown_grace_s: float = Field(default=10.0, ge=0, description="Seconds in-flight calls get to finish on "
                                         "SIGTERM (PRODA_GRPC_SHUTDOWN_GRACE_S).")

    @field_validator("api_tokens")
    @classmethod
    def _strong_tokens(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        tokens = [t.strip() for t in v.get_secret_value().split(",")]
        if not any(tokens):
            return None
        if any(len(t) < 16 or any(ch.isspace() for ch in t) for t in tokens):
            raise ValueError("PRODA_API_TOKENS: every token needs 16 or more characters and no spaces; make one with "
                             "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
        return SecretStr(",".join(tokens))

    @field_validator("grpc_tls_key")
    @classmethod
    def _cert_with_key(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if (v is None) != (info.data.get("grpc_tls_cert") is None):
            raise ValueError("set PRODA_GRPC_TLS_CERT and PRODA_GRPC_TLS_KEY together (or neither, for plaintext)")
        return v

    def bearer_tokens(self) -> list[str]:
        """The tokens of PRODA_API_TOKENS (empty: authentication off)."""
        return self.api_tokens.get_secret_value().split(",") if self.api_tokens else []

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
