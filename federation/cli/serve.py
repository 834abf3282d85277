"""``duckmesh serve``: the mesh as a service over Arrow Flight SQL and HTTP.

Settings come from duckmesh.yaml ``server:``; the options here override them for this
run.  See docs/server.md for deploying, tokens, OIDC and the security model.
"""

from __future__ import annotations

from pathlib import Path

import click

from federation.cli import params as p


@click.command("serve")
@click.option("--host", help="address to listen on (default 127.0.0.1; a non-loopback "
                             "address needs --tls-cert/--tls-key or --insecure)")
@click.option("--port", type=click.IntRange(0, 65535),
              help="Arrow Flight SQL port (default 8815; 0 picks a free one)")
@click.option("--http-port", type=click.IntRange(0, 65535),
              help="HTTP API port (default 8080; 0 picks a free one)")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="PEM certificate (chain) for TLS on both ports")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="PEM private key of --tls-cert")
@click.option("--insecure", is_flag=True,
              help="allow a non-loopback address without TLS (only behind a TLS proxy)")
@click.option("--max-concurrent", type=click.IntRange(min=1),
              help="queries running at once (default server.max_concurrent_queries, 4)")
@click.option("--grace", type=click.FloatRange(min=0),
              help="seconds running queries get to finish on SIGTERM (default 30)")
@click.option("--log-format", type=click.Choice(("json", "text")), default="json",
              show_default=True, help="structured logs on stderr")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, http_port: int | None,
          tls_cert: Path | None, tls_key: Path | None, insecure: bool,
          max_concurrent: int | None, grace: float | None, log_format: str) -> None:
    """Serve the mesh to authenticated callers: Arrow Flight SQL and HTTP.

    Only this process needs the storage credentials and the mask secret; callers present
    a token (`duckmesh tokens issue USER`) or an OIDC JWT, and every query is governed
    and audited as that principal. Stops gracefully on SIGTERM; SIGHUP reloads the
    mesh's contracts and governance.
    """
    from federation.server.run import Server, configure_logging

    mesh = p.mesh_of(ctx)
    overrides = {"host": host, "port": port, "http_port": http_port,
                 "tls_cert": str(tls_cert) if tls_cert else None,
                 "tls_key": str(tls_key) if tls_key else None,
                 "max_concurrent_queries": max_concurrent, "shutdown_grace_seconds": grace}
    settings = mesh.settings.server.model_copy(
        update={k: v for k, v in overrides.items() if v is not None})
    configure_logging(log_format, debug=bool(ctx.meta.get("duckmesh.debug")))
    Server(mesh, settings, insecure=insecure).serve_forever()
