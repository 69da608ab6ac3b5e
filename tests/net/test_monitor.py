"""The monitor over a scripted sequence of pluto outputs (the fixtures), on a clock the
test moves: transitions, uptime over the window, the alert command and the metrics."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from corridor.net.monitor import Monitor, TunnelCollector
from corridor.net.status import parse
from tests.support import free_port

FIXTURES = Path(__file__).parent / "fixtures"


class Script:
    """Feeds the monitor one fixture per tick while the clock advances 10 s per tick."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.now = 1_000_000.0

    def clock(self) -> float:
        return self.now

    def sample(self):  # type: ignore[no-untyped-def]
        text = (FIXTURES / f"{self.names.pop(0)}.txt").read_text()
        return parse(text, ["payfast"])


def test_transitions_uptime_alert_and_metrics(tmp_path: Path) -> None:
    script = Script(["established"] * 3 + ["ike-only"] * 4 + ["half-open", "established"])
    marker = tmp_path / "alerts"
    alert = f'sh -c \'echo "$CORRIDOR_PARTNER $CORRIDOR_TUNNEL_STATE" >> {marker}\''
    mon = Monitor(script.sample, tmp_path / "tunnels.log", window_s=60, alert_cmd=alert,
                  alert_after_s=25, clock=script.clock)
    for _ in range(9):
        mon.tick()
        script.now += 10
    log = [json.loads(x) for x in (tmp_path / "tunnels.log").read_text().splitlines()]
    assert [(e["from"], e["to"]) for e in log] == [
        ("unknown", "up"), ("up", "ike-only"), ("ike-only", "negotiating"),
        ("negotiating", "up")]
    assert log[1]["label"] == "IKE up, IPsec SA down"
    # Down from t=30 to t=80, up since: one alert after 30 s down, not one per sample.
    assert marker.read_text().splitlines() == ["payfast ike-only"]
    # Window = last 60 s (t=30..90): down 30..80, up 80..90.
    assert abs(mon.uptime("payfast") - 10 / 60) < 1e-9

    registry = CollectorRegistry()
    registry.register(TunnelCollector(mon))
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    finally:
        server.shutdown()
        thread.join(5)
    text = body.decode()
    assert 'corridor_tunnel_ipsec_up{partner="payfast"} 1.0' in text
    assert 'corridor_tunnel_state{partner="payfast",state="up"} 1.0' in text
    assert 'corridor_tunnel_transitions_total{partner="payfast"} 2.0' in text
    assert 'corridor_tunnel_bytes_in{partner="payfast"} 1180.0' in text
    assert 'corridor_tunnel_uptime_ratio{partner="payfast"} 0.1666' in text


def test_pluto_gone_counts_every_tunnel_down(tmp_path: Path) -> None:
    script = Script(["established"])
    calls = {"n": 0}

    def sample():  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError("pluto control socket gone")
        return script.sample()

    mon = Monitor(sample, tmp_path / "t.log", clock=script.clock)
    mon.tick()
    script.now += 10
    events = mon.tick()
    assert events[0]["to"] == "absent" and "socket gone" in events[0]["error"]
    assert mon.sample_errors == 1
