"""Prometheus metrics of the service, in the text exposition format (``GET /metrics``).

Counters and a latency histogram by protocol and outcome, plus gauges read when scraped.
Labels never name users or SQL: a scrape endpoint is often readable by more people
than the audit log.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import ClassVar

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels, extra: str = "") -> str:
    parts = [f'{k}="{v}"' for k, v in labels] + ([extra] if extra else [])
    return "{" + ",".join(parts) + "}" if parts else ""


class Metrics:
    """The service's counters, histogram and gauges."""

    HELP: ClassVar[dict[str, tuple[str, str]]] = {
        "duckmesh_queries_total": ("counter", "queries by protocol and outcome"),
        "duckmesh_denials_total": ("counter", "queries refused by governance"),
        "duckmesh_rows_total": ("counter", "rows sent to clients"),
        "duckmesh_bytes_scanned_total": ("counter", "bytes read from storage (planned)"),
        "duckmesh_auth_failures_total": ("counter", "failed authentications by reason"),
        "duckmesh_query_duration_seconds": ("histogram", "time from admission to the last "
                                            "row, by protocol"),
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._histogram: dict[Labels, list[float]] = {}
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        with self._lock:
            self._counters[name][tuple(sorted(labels.items()))] += value

    def observe(self, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            counts = self._histogram.setdefault(key, [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[-2] += 1  # count (+Inf)
            counts[-1] += seconds

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges[name] = (help_text, read)

    def value(self, name: str, **labels: str) -> float:
        """A counter's current value (for tests and the benchmark)."""
        with self._lock:
            return self._counters[name].get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        """Everything, in the Prometheus text format 0.0.4."""
        lines: list[str] = []
        with self._lock:
            for name, (kind, text) in self.HELP.items():
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                if kind == "counter":
                    for labels, value in sorted(self._counters[name].items()):
                        lines.append(f"{name}{_labels(labels)} {value:g}")
                    continue
                for labels, counts in sorted(self._histogram.items()):
                    for bound, count in zip(BUCKETS, counts, strict=False):
                        le = 'le="' + f"{bound:g}" + '"'
                        lines.append(f"{name}_bucket{_labels(labels, le)} {count:g}")
                    inf = 'le="+Inf"'
                    lines.append(f"{name}_bucket{_labels(labels, inf)} {counts[-2]:g}")
                    lines.append(f"{name}_count{_labels(labels)} {counts[-2]:g}")
                    lines.append(f"{name}_sum{_labels(labels)} {counts[-1]:g}")
        for name, (text, read) in sorted(self.gauges.items()):
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {read():g}"]
        return "\n".join(lines) + "\n"
