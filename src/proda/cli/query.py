"""``proda query``: run, list and print the named Cypher queries of the catalog."""

from __future__ import annotations

import typer

from proda.cli.context import settings_from, store_for
from proda.cli.output import console, print_json, print_rows
from proda.errors import InputError


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--param {pair!r}: write it as key=value")
        params[key.strip()] = value
    return params


def query(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Catalog query name (see --list)."),
    param: list[str] = typer.Option([], "--param", "-p", help="A parameter as key=value; repeat for more."),
    list_: bool = typer.Option(False, "--list", help="List the catalog: names, purposes, parameters."),
    show: str | None = typer.Option(None, "--show", help="Print a query's Cypher text, ready to paste."),
    backend: str | None = typer.Option(None, "--backend", help="With --show: the dialect (falkordb|neo4j)."),
    as_json: bool = typer.Option(False, "--json", help="Print rows as JSON."),
    remote: str | None = typer.Option(None, "--remote", envvar="PRODA_REMOTE", help="Run the query on a ProDa "
                                      "server (grpc://host:port, grpcs:// for TLS; token from PRODA_API_TOKEN)."),
) -> None:
    """Run a named catalog query (read-only ones only), or --list / --show the catalog.

    Values are passed as Cypher $parameters, typed by the query's header, never pasted into text.

    Examples: `proda query --list`; `proda query --show chain_detail`;
    `proda query concept_neighbours -p id=con_... -p limit=20`.
    """
    from proda.schema.catalog import BACKENDS, default_catalog

    catalog = default_catalog()
    if list_:
        rows = [{"name": q.name, "mode": q.mode, "purpose": q.purpose,
                 "params": ", ".join(f"{p.name}:{p.type}{'' if p.required else '?'}" for p in q.params),
                 "variants": ",".join(v for v in q.variants() if v != "common") or "-"} for q in catalog]
        if as_json:
            print_json(rows)
        else:
            print_rows(rows, title="Cypher catalog")
        return
    if show is not None:
        q = catalog.get(show)
        dialect = backend or settings_from(ctx).backend
        if dialect not in BACKENDS:
            raise InputError(f"--backend {dialect!r}: use one of {', '.join(BACKENDS)}")
        print(q.text(dialect), end="")
        return
    if name is None:
        raise InputError("name a query to run, or use --list / --show NAME")
    if remote is not None:  # the server checks name, mode and parameters against its own catalog
        from proda.services.client import ProdaClient

        with ProdaClient.from_url(remote, settings_from(ctx)) as client:
            result = client.run_named_query(name, _parse_params(param))
        remote_rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        if as_json:
            print_json(remote_rows)
        else:
            cut = ", truncated" if result.truncated else ""
            print_rows(remote_rows, title=f"{name} ({len(remote_rows)} rows{cut})", columns=result.columns)
        return
    q = catalog.get(name)
    if not q.read_only:
        raise InputError(f"query {name!r} writes to the graph; the CLI runs read-only catalog queries only")
    params = q.bind(_parse_params(param))
    with store_for(ctx) as store:
        rows = store.query(name, params)
    if as_json:
        print_json(rows)
    else:
        print_rows(rows, title=f"{name} ({len(rows)} rows)", columns=q.columns or None)
        console.print(f"[dim]{q.purpose}[/dim]")
