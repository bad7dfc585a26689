"""Counters, gauges and histograms for a node's ``/metrics``, in Prometheus text format.

Fabric's nodes publish their figures through an operations service; ours do the same
with Fabric's metric names where Fabric has one. Every figure is a number in a dict
updated in-process on the path that causes it (no sampling thread, no lock: the nodes
run one event loop, and a lost increment from a worker thread would cost one count,
not a crash), so the cost on a transaction is a few dictionary operations. One
registry per process (``METRICS``), as Fabric has one metrics provider per node.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from proto.errors import ProtoError

Labels = tuple[str, ...]
# Fabric's default histogram buckets (seconds), as its Prometheus provider declares them.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class MetricsError(ProtoError):
    """A metric used with the wrong number of label values, or declared twice."""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, int) or (math.isfinite(value) and value == int(value)):
        return str(int(value))
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _label_text(names: Labels, values: Labels, extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


@dataclass
class _Metric:
    name: str
    help: str
    labels: Labels
    kind: str = ""

    def _key(self, values: Iterable[object]) -> Labels:
        key = tuple(str(v) for v in values)
        if len(key) != len(self.labels):
            raise MetricsError(
                f"{self.name} takes {len(self.labels)} label value(s) "
                f"({', '.join(self.labels) or 'none'}), got {len(key)}"
            )
        return key

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


@dataclass
class Counter(_Metric):
    """A count that only grows (Fabric's counters: proposals received, blocks sent …)."""

    kind: str = "counter"
    values: dict[Labels, float] = field(default_factory=dict)

    def add(self, *labels: object, amount: float = 1) -> None:
        key = self._key(labels)
        self.values[key] = self.values.get(key, 0) + amount

    def samples(self) -> list[str]:
        return [
            f"{self.name}{_label_text(self.labels, key)} {_number(value)}"
            for key, value in sorted(self.values.items())
        ]


@dataclass
class Gauge(_Metric):
    """A value that goes up and down (a channel's height, transactions pending). A gauge
    may instead be read when scraped (``read``), for figures the node already keeps."""

    kind: str = "gauge"
    values: dict[Labels, float] = field(default_factory=dict)
    read: Callable[[], dict[Labels, float]] | None = None

    def set(self, value: float, *labels: object) -> None:
        self.values[self._key(labels)] = value

    def add(self, amount: float, *labels: object) -> None:
        key = self._key(labels)
        self.values[key] = self.values.get(key, 0) + amount

    def samples(self) -> list[str]:
        values = dict(self.values)
        if self.read is not None:
            values.update(self.read())
        return [
            f"{self.name}{_label_text(self.labels, key)} {_number(value)}"
            for key, value in sorted(values.items())
        ]


@dataclass
class Histogram(_Metric):
    """Durations in buckets, with their sum and count (Fabric's ``*_duration``)."""

    kind: str = "histogram"
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    values: dict[Labels, list[float]] = field(default_factory=dict)  # counts…, sum, count

    def observe(self, seconds: float, *labels: object) -> None:
        key = self._key(labels)
        row = self.values.get(key)
        if row is None:
            row = self.values[key] = [0.0] * (len(self.buckets) + 2)
        for n, bound in enumerate(self.buckets):
            if seconds <= bound:
                row[n] += 1
        row[-2] += seconds
        row[-1] += 1

    def samples(self) -> list[str]:
        lines = []
        for key, row in sorted(self.values.items()):
            for bound, count in zip((*self.buckets, math.inf), (*row[:-2], row[-1]), strict=True):
                le = f'le="{_number(bound)}"'
                lines.append(f"{self.name}_bucket{_label_text(self.labels, key, le)} {int(count)}")
            labels = _label_text(self.labels, key)
            lines.append(f"{self.name}_sum{labels} {_number(row[-2])}")
            lines.append(f"{self.name}_count{labels} {int(row[-1])}")
        return lines


class Rate:
    """Events per second over the last ``window`` seconds, for ``status``'s "tx/s": a
    scrape is one instant, so a counter alone cannot say how fast a node works now.
    Counts are kept per second, so the hot path adds to one slot."""

    def __init__(self, window: int = 10, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._slots: dict[int, float] = {}

    def add(self, amount: float = 1) -> None:
        second = int(self._clock())
        self._slots[second] = self._slots.get(second, 0) + amount
        if len(self._slots) > 2 * self.window:
            self._forget(second)

    def per_second(self) -> float:
        """The mean over the last full ``window`` seconds (the current one left out, as
        it is still filling)."""
        now = int(self._clock())
        self._forget(now)
        return sum(v for s, v in self._slots.items() if now - self.window <= s < now) / self.window

    def _forget(self, now: int) -> None:
        for second in [s for s in self._slots if s < now - self.window]:
            del self._slots[second]


class Registry:
    """Every metric of one process, rendered together for ``/metrics``."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def _declare(self, metric: _Metric) -> _Metric:
        """Declaring the same metric twice (a module imported by two nodes in one test
        process) returns the first, so counts are shared rather than split."""
        with self._lock:
            known = self._metrics.get(metric.name)
            if known is None:
                self._metrics[metric.name] = metric
                return metric
        if type(known) is not type(metric) or known.labels != metric.labels:
            raise MetricsError(f"metric {metric.name} is already declared differently")
        return known

    def counter(self, name: str, help: str, labels: Labels = ()) -> Counter:
        metric = self._declare(Counter(name, help, labels))
        assert isinstance(metric, Counter)
        return metric

    def gauge(
        self,
        name: str,
        help: str,
        labels: Labels = (),
        read: Callable[[], dict[Labels, float]] | None = None,
    ) -> Gauge:
        metric = self._declare(Gauge(name, help, labels, read=read))
        assert isinstance(metric, Gauge)
        if read is not None:
            metric.read = read  # the newest reader wins (a node restarted in-process)
        return metric

    def rate(self, name: str, help: str, window: int = 10) -> Rate:
        """A gauge of events per second over the last ``window`` seconds (ours: Fabric
        has no rate metrics, Prometheus computes them; ``status`` cannot)."""
        rate = Rate(window)
        self.gauge(name, help, (), lambda: {(): rate.per_second()})
        return rate

    def histogram(self, name: str, help: str, labels: Labels = ()) -> Histogram:
        metric = self._declare(Histogram(name, help, labels))
        assert isinstance(metric, Histogram)
        return metric

    def get(self, name: str) -> _Metric | None:
        return self._metrics.get(name)

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        for name in sorted(self._metrics):
            metric = self._metrics[name]
            lines += metric.header() + metric.samples()
        return "\n".join(lines) + "\n"


METRICS = Registry()


def parse_samples(text: str) -> dict[str, float]:
    """``name{labels}`` → value from Prometheus text (comments skipped): what a test or
    ``consortium status`` reads back from a scrape."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        samples[name] = float(value)
    return samples
