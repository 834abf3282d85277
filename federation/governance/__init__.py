"""Governance as code: who the principals are, the global rules keyed on classification,
each domain's grants and row filters, and the masks they apply.

It decides; it does not touch SQL text or data.  ``model`` loads and checks the
governance files, ``access`` turns them into one caller's access to one product, and
``masks`` builds the (keyed) mask expressions the rewrite puts in place of raw values.
"""
