"""Prometheus metrics of one app (prometheus-client, a registry per app: no process-wide state).

Requests are counted and timed per route *template* (``/v1/songs/{song_id}``), never per raw
path, and methods outside the standard set are counted as ``OTHER``: the label sets stay small
whatever clients send. Ingestion stages come from the catalog's stage observers; the catalog
size and the heavy-request slots are read at scrape time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from songlens.errors import SonglensError

__all__ = ["CONTENT_TYPE", "AppMetrics", "bounded_method"]

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: request latency buckets (s): reads take milliseconds, an ingestion seconds to a minute
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def bounded_method(method: str) -> str:
    """The method as a label: one of :data:`METHODS`, else ``OTHER``."""
    return method if method in METHODS else "OTHER"


class _LiveState(Collector):
    """Gauges read when scraped: songs in the catalog, heavy requests running and waiting. A
    store that fails leaves its gauge out of the scrape (``/readyz`` says why) instead of
    failing the whole scrape."""

    def __init__(self) -> None:
        self.catalog: Any = None
        self.heavy: Any = None
        self.index: Any = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.catalog is not None:
            try:
                n = self.catalog.count()
            except SonglensError as exc:
                log.warning("metrics: cannot count songs: %s", exc.code)
            else:
                yield GaugeMetricFamily("songlens_catalog_songs", "Songs in the catalog", value=n)
        if self.heavy is not None:
            yield GaugeMetricFamily("songlens_heavy_requests_active",
                                    "Heavy requests (ingest, similar-to-a-clip) running",
                                    value=self.heavy.active)
            yield GaugeMetricFamily("songlens_heavy_requests_waiting",
                                    "Heavy requests waiting for a slot", value=self.heavy.waiting)
        if self.index is not None:
            yield from self._index_gauges(self.index.states())

    @staticmethod
    def _index_gauges(states: dict[str, dict]) -> Iterator[GaugeMetricFamily]:
        """The embedded store's index upkeep, per collection (service/index_upkeep.py)."""
        gauges = {
            "unindexed": GaugeMetricFamily("songlens_index_unindexed_points",
                                           "Points written since the last search-index build",
                                           labels=["collection"]),
            "building": GaugeMetricFamily("songlens_index_building", "1 while a search-index "
                                          "build runs (out of process)", labels=["collection"]),
            "last_build_at": GaugeMetricFamily("songlens_index_last_build_timestamp_seconds",
                                               "When the last index build finished",
                                               labels=["collection"]),
            "last_build_s": GaugeMetricFamily("songlens_index_last_build_seconds",
                                              "Duration of the last index build",
                                              labels=["collection"]),
            "last_swap_s": GaugeMetricFamily("songlens_index_last_swap_seconds", "How long "
                                             "the last index swap held requests",
                                             labels=["collection"]),
        }
        for name, st in states.items():
            for key, g in gauges.items():
                if st.get(key) is not None:
                    g.add_metric([name], float(st[key]))
        yield from gauges.values()


class AppMetrics:
    """The metrics of one app and the hooks that feed them."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.requests = Counter("songlens_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("songlens_http_request_duration_seconds",
                                 "Time to answer an HTTP request (until the body is sent)",
                                 ["method", "route"], buckets=REQUEST_BUCKETS, registry=r)
        self.in_progress = Gauge("songlens_http_requests_in_progress",
                                 "HTTP requests being answered", registry=r)
        self.stages = Histogram("songlens_ingest_stage_seconds",
                                "Time spent in each ingestion stage (decode, audio_model, "
                                "features, text, store)", ["stage"], buckets=STAGE_BUCKETS,
                                registry=r)
        self.model_load = Gauge("songlens_model_load_seconds",
                                "Time to load the models and open the store at start-up",
                                registry=r)
        self._live = _LiveState()
        r.register(self._live)

    # -- hooks ----------------------------------------------------------------------------------
    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        m = bounded_method(method)
        self.requests.labels(m, route, str(status)).inc()
        self.latency.labels(m, route).observe(seconds)

    def observe_stage(self, stage: str, seconds: float) -> None:
        """A catalog stage observer (``Catalog.stage_observers``)."""
        self.stages.labels(stage).observe(seconds)

    def watch(self, *, catalog: Any = None, heavy: Any = None, index: Any = None) -> None:
        """Read the catalog's size, the heavy-request slots and the index upkeep's state at
        scrape time."""
        self._live.catalog, self._live.heavy, self._live.index = catalog, heavy, index

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
