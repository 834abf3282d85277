"""Byte sizes as people write them in YAML: ``500MB`` (10^6), ``2GiB`` (2^30), or a number."""

from __future__ import annotations

_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(value: int | str, what: str) -> int:
    """``value`` in bytes; ``what`` names the setting in the error (ValueError)."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{what} {value!r}: must not be negative")
        return value
    text = value.strip().upper().replace(" ", "")
    number = text.rstrip("KMGTIB")
    unit = text[len(number):] or "B"
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if unit not in _UNITS or amount < 0:
        raise ValueError(f"{what} {value!r}: use e.g. 500MB or 2GiB")
    return int(amount * _UNITS[unit])
