"""``GET /api/metrics``: the running instance's live figures in Prometheus text format.

Built with the standard ``prometheus_client`` library: a custom collector reads the services
at scrape time (the pipeline's and streams' counters, the sessions, the hub's screens, the
alert board), so nothing is counted twice and nothing needs updating on the hot paths.  Each
scrape uses a ``CollectorRegistry`` of its own, never the library's global one: several
instances in one process (the tests) must not share or clash.  Runs on the loop and reads
memory only.  The metric names are listed in docs/operations.md ("Alerts and metrics").
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

import race_control
from race_control.alerts import KINDS
from race_control.display_server.hub import LATENCY_BUCKETS_MS
from race_control.display_server.services import Services

# the classic text format (prometheus_client's CONTENT_TYPE_LATEST is 1.0.0 in newer releases)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STREAM_LABELS = ["stream", "protocol", "name"]
SESSION_LABELS = ["session", "name"]
SCREEN_LABELS = ["session", "screen", "screen_id", "address"]


class RaceControlCollector(Collector):
    def __init__(self, services: Services) -> None:
        self._s = services

    def collect(self) -> Iterator[Metric]:
        s = self._s
        info = GaugeMetricFamily("race_control_build_info", "Race Control version", labels=["version"])
        info.add_metric([race_control.__version__], 1)
        yield info
        yield from self._ingest()
        yield from self._sessions()
        yield from self._screens()
        active = GaugeMetricFamily(
            "race_control_alerts_active", "Alerts whose condition holds now", labels=["kind"]
        )
        counts = dict.fromkeys(KINDS, 0)
        for alert in s.alerts.alerts(include_acknowledged=True):
            if alert.active:
                counts[alert.kind] += 1
        for kind, n in counts.items():
            active.add_metric([kind], n)
        yield active
        yield from self._sync()
        flags = GaugeMetricFamily(
            "race_control_feature_enabled", "Feature flags (1 = on)", labels=["feature"]
        )
        for name, on in s.features.to_json().items():
            flags.add_metric([name], int(on))
        yield flags

    def _sync(self) -> Iterator[Metric]:
        st = self._s.sync.status()
        yield GaugeMetricFamily(
            "race_control_sync_backlog", "Local rows not yet in the central database", value=st.backlog
        )
        yield GaugeMetricFamily(
            "race_control_sync_last_success_timestamp_seconds",
            "When the last sync round succeeded (Unix time; 0 = never in this process)",
            value=st.last_success or 0,
        )
        state = GaugeMetricFamily(
            "race_control_sync_state", "Central sync state (1 = the current one)", labels=["state"]
        )
        for name in ("off", "idle", "syncing", "offline", "error"):
            state.add_metric([name], int(st.state == name))
        yield state

    def _ingest(self) -> Iterator[Metric]:
        p = self._s.pipeline
        yield CounterMetricFamily(
            "race_control_reads", "Reads committed to the store by this process", value=p.committed_reads
        )
        yield GaugeMetricFamily(
            "race_control_ingest_backlog", "Reads and raw lines waiting to be stored", value=p.backlog
        )
        yield CounterMetricFamily(
            "race_control_store_failures", "Attempts to store a batch of reads that failed", value=p.failures
        )
        reads = CounterMetricFamily(
            "race_control_stream_reads",
            "Tag reads taken from each timing stream (stored or being stored), earlier runs included",
            labels=STREAM_LABELS,
        )
        bad = CounterMetricFamily(
            "race_control_stream_bad_lines",
            "Lines from each timing stream that could not be parsed",
            labels=STREAM_LABELS,
        )
        clock = CounterMetricFamily(
            "race_control_stream_clock_warnings",
            "Reads whose time was far from this computer's clock",
            labels=STREAM_LABELS,
        )
        connections = GaugeMetricFamily(
            "race_control_stream_connections", "Open connections of each timing stream", labels=STREAM_LABELS
        )
        for st in self._s.timing.streams():
            labels = [st.id, st.protocol, st.event_name or st.source_key]
            reads.add_metric(labels, st.reads)
            bad.add_metric(labels, st.bad_lines)
            clock.add_metric(labels, st.clock_warnings)
            connections.add_metric(labels, st.connections)
        yield from (reads, bad, clock, connections)

    def _sessions(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "race_control_display_events",
            "Display events (finishers, corrections) each display session has issued to its screens",
            labels=SESSION_LABELS,
        )
        finishers = GaugeMetricFamily(
            "race_control_session_finishers",
            "Finishers each display session shows now",
            labels=SESSION_LABELS,
        )
        screens = GaugeMetricFamily(
            "race_control_screens", "Screens connected to each open display session", labels=SESSION_LABELS
        )
        for session in self._s.sessions.sessions():
            labels = [session.id, session.name]
            events.add_metric(labels, session.next_seq - 1)
            finishers.add_metric(labels, session.finishers)
            if session.status == "open":
                screens.add_metric(labels, len(self._s.hub.screens(session.id)))
        yield from (events, finishers, screens)

    def _screens(self) -> Iterator[Metric]:
        queue = GaugeMetricFamily(
            "race_control_screen_queue", "Messages waiting to be sent to each screen", labels=SCREEN_LABELS
        )
        latency = HistogramMetricFamily(
            "race_control_screen_latency_seconds",
            "Read to screen latency (the read's arrival to the screen's `rendered`) per connected screen",
            labels=SCREEN_LABELS,
        )
        for screen in self._s.hub.screens():
            labels = [screen.session_id, screen.id, screen.screen_id, screen.remote]
            queue.add_metric(labels, screen.queue.qsize() + len(screen.buffer))
            buckets, total = [], 0
            for le, n in zip(LATENCY_BUCKETS_MS, screen.latency_counts, strict=False):
                total += n
                buckets.append((repr(le / 1000), total))
            buckets.append(("+Inf", sum(screen.latency_counts)))
            latency.add_metric(labels, buckets, screen.latency_sum / 1000)
        yield from (queue, latency)


def metrics_text(services: Services) -> bytes:
    """The scrape: a registry of this call's own, with the collector reading ``services`` now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RaceControlCollector(services))
    return generate_latest(registry)
