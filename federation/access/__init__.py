"""Access requests: asking a domain's owners for a product or columns, and their decision.

One file per request under ``requests/<domain>/`` in the mesh (who, what, why, when, and
the grant change an owner would commit) — the same files for ``duckmesh access request``
/ ``access list`` and the web catalog's request pages (:mod:`federation.access.requests`).
Approving writes that grant into the domain's ``domain.yaml`` and, when the mesh is a git
repository, also commits it on a branch for review (:mod:`federation.access.decide`);
requests and decisions are audited.
"""
