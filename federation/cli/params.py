"""The mesh a CLI invocation works on, opened once per invocation."""

from __future__ import annotations

import click

from federation.mesh import Mesh


def mesh_of(ctx: click.Context) -> Mesh:
    """The mesh named by ``--mesh`` (or found from the environment), opened once."""
    obj = ctx.find_object(dict) or {}
    if "mesh" not in obj:
        obj["mesh"] = Mesh.open(obj.get("mesh_path"))
    mesh = obj["mesh"]
    assert isinstance(mesh, Mesh)
    return mesh
