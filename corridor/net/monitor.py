"""The tunnel monitor: samples pluto, records each up/down transition, computes uptime per
partner over a window, exposes Prometheus metrics and runs an alert command when a tunnel
stays down.

It compares what the site configures with what pluto has: a configured tunnel that pluto
does not know is down, and says so. "Up" means traffic can flow (IPsec SA established);
IKE alone is reported as such but counts as down.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from corridor.net.status import TunnelStatus


@dataclass
class Track:
    """One partner's history: (time, up) at each transition, oldest first."""

    changes: list[tuple[float, bool]] = field(default_factory=list)
    state: str = "unknown"
    down_since: float | None = None
    alerted: bool = False
    transitions: int = 0
    last: TunnelStatus | None = None

    def uptime(self, now: float, window: float) -> float:
        """Share of the observed part of the last `window` seconds the tunnel was up."""
        if not self.changes:
            return 0.0
        start = max(now - window, self.changes[0][0])
        if now <= start:
            return 1.0 if self.changes[-1][1] else 0.0
        up = 0.0
        for i, (t, is_up) in enumerate(self.changes):
            end = self.changes[i + 1][0] if i + 1 < len(self.changes) else now
            lo, hi = max(t, start), min(end, now)
            if is_up and hi > lo:
                up += hi - lo
        return up / (now - start)


class Monitor:
    def __init__(
        self,
        sample: Callable[[], dict[str, TunnelStatus]],
        log_path: Path,
        window_s: float = 86400.0,
        alert_cmd: str | None = None,
        alert_after_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sample = sample
        self.log_path = log_path
        self.window_s = window_s
        self.alert_cmd = alert_cmd
        self.alert_after_s = alert_after_s
        self.clock = clock
        self.tracks: dict[str, Track] = {}
        self.samples = 0
        self.sample_errors = 0

    def tick(self) -> list[dict[str, object]]:
        """Take one sample; return the transitions it saw (also appended to the log)."""
        now = self.clock()
        error: str | None = None
        try:
            seen = self.sample()
        except Exception as exc:  # pluto gone or whack failing: every tunnel is down
            self.sample_errors += 1
            seen = {name: TunnelStatus(name, configured=True) for name in self.tracks}
            error = str(exc)
        self.samples += 1
        events: list[dict[str, object]] = []
        for name, status in seen.items():
            track = self.tracks.setdefault(name, Track())
            track.last = status
            if status.state != track.state:
                event: dict[str, object] = {
                    "time": _iso(now), "partner": name, "from": track.state,
                    "to": status.state, "label": status.label}
                if error:
                    event["error"] = error
                events.append(event)
                if not track.changes or track.changes[-1][1] != status.up:
                    track.transitions += bool(track.changes)  # the first sample is no flip
                    track.changes.append((now, status.up))
                track.state = status.state
            if status.up:
                track.down_since, track.alerted = None, False
            elif track.down_since is None:
                track.down_since = now
            down_since = track.down_since
            if (down_since is not None and not track.alerted and self.alert_cmd
                    and status.configured and now - down_since >= self.alert_after_s):
                self._alert(name, status, now - down_since)
                track.alerted = True
        self._trim(now)
        if events:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as log:
                for event in events:
                    log.write(json.dumps(event, sort_keys=True) + "\n")
        return events

    def uptime(self, name: str) -> float:
        return self.tracks[name].uptime(self.clock(), self.window_s)

    def _trim(self, now: float) -> None:
        # Keep the last change before the window: it says what state the window began in.
        for track in self.tracks.values():
            while len(track.changes) > 1 and track.changes[1][0] <= now - self.window_s:
                track.changes.pop(0)

    def _alert(self, name: str, status: TunnelStatus, down_for: float) -> None:
        env = dict(os.environ, CORRIDOR_PARTNER=name, CORRIDOR_TUNNEL_STATE=status.state,
                   CORRIDOR_TUNNEL_LABEL=status.label, CORRIDOR_DOWN_SECONDS=f"{down_for:.0f}")
        try:
            subprocess.run(shlex.split(self.alert_cmd or ""), env=env, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps({"time": _iso(self.clock()), "partner": name,
                                      "alert_error": str(exc)}) + "\n")


class TunnelCollector(Collector):
    """Prometheus view of the monitor, computed at scrape time."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        m = self.monitor
        gauges = {
            "configured": GaugeMetricFamily(
                "corridor_tunnel_configured", "1 when the site configures this tunnel",
                labels=["partner"]),
            "loaded": GaugeMetricFamily(
                "corridor_tunnel_loaded", "1 when pluto has the connection loaded",
                labels=["partner"]),
            "ike": GaugeMetricFamily(
                "corridor_tunnel_ike_up", "1 when an IKE SA is established", labels=["partner"]),
            "ipsec": GaugeMetricFamily(
                "corridor_tunnel_ipsec_up", "1 when an IPsec SA is established (traffic flows)",
                labels=["partner"]),
            "uptime": GaugeMetricFamily(
                "corridor_tunnel_uptime_ratio", f"share of the last {m.window_s:.0f}s up",
                labels=["partner"]),
            "in": GaugeMetricFamily(
                "corridor_tunnel_bytes_in", "bytes received on the IPsec SA", labels=["partner"]),
            "out": GaugeMetricFamily(
                "corridor_tunnel_bytes_out", "bytes sent on the IPsec SA", labels=["partner"]),
        }
        state = GaugeMetricFamily("corridor_tunnel_state", "1 for the tunnel's current state",
                                  labels=["partner", "state"])
        flips = CounterMetricFamily("corridor_tunnel_transitions", "up/down transitions seen",
                                    labels=["partner"])
        now = m.clock()
        for name, track in sorted(m.tracks.items()):
            s = track.last
            if s is None:
                continue
            gauges["configured"].add_metric([name], int(s.configured))
            gauges["loaded"].add_metric([name], int(s.loaded))
            gauges["ike"].add_metric([name], int(s.ike_sa is not None))
            gauges["ipsec"].add_metric([name], int(s.ipsec_sa is not None))
            gauges["uptime"].add_metric([name], track.uptime(now, m.window_s))
            gauges["in"].add_metric([name], s.bytes_in)
            gauges["out"].add_metric([name], s.bytes_out)
            state.add_metric([name, s.state], 1)
            flips.add_metric([name], track.transitions)
        yield from gauges.values()
        yield state
        yield flips
        samples = CounterMetricFamily("corridor_tunnel_samples", "samples taken of pluto")
        samples.add_metric([], m.samples)
        yield samples


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
