"""Checks of the whole mesh, run on request rather than on every query.

``validate`` reads every contract, governance and report file and reports every problem
with its file and field (``duckmesh validate``); ``data`` checks products' data against
their contracts and quality rules (``duckmesh check``).
"""
