"""Scheduled reports: governed SQL, run as a principal, published atomically per slot."""
