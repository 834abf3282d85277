"""What happened: the audit log of every query, its store and compaction, the
``meta.audit`` product built from it, column lineage and OpenLineage events.

The pipeline never imports this package; :class:`~federation.mesh.Mesh` writes a record
for every query, refused or run, before it delivers rows.
"""
