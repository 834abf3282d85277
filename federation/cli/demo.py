"""``duckmesh demo [DIR]``: write a complete demo mesh (contracts, governance, data)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path),
                default=Path("demo-mesh"))
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="1.0 makes about 1M bookings")
@click.option("--storage", metavar="s3://BUCKET/PREFIX",
              help="put the data on object storage instead of DIRECTORY/data")
@click.option("--s3-endpoint-url", metavar="URL",
              help="S3-compatible endpoint for --storage (written into duckmesh.yaml)")
def demo(directory: Path, scale: float, storage: str | None,
         s3_endpoint_url: str | None) -> None:
    """Write a complete demo mesh (travel agency) with data into DIRECTORY."""
    # Lazy: the demo's contracts and data generator load only when a demo is written.
    from products.demo import write_demo

    root = write_demo(directory, scale, storage, s3_endpoint_url)
    if storage is None:  # publishing needs a local root (docs/publishing.md)
        from federation.publish.demo import publish_demo_product

        publish_demo_product(root)
    click.echo(f"demo mesh written to {root}")
    click.echo(f"try: duckmesh --mesh {directory} query --user ana "
               "\"SELECT country, count(*) FROM customers.profiles GROUP BY ALL\"")
