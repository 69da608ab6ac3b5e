"""What each configured tunnel is doing, from pluto's own output (pure parsing).

pluto is asked with `whack --status` (its connection list and states), `--briefstatus`
(SA totals) and `--trafficstatus` (bytes per IPsec SA). Each partner tunnel the site
configures is then one of:

    up           IKE SA and IPsec SA established (traffic can flow)
    ike-only     IKE SA established, IPsec SA down (e.g. the kernel refused the Child SA)
    negotiating  an IKE SA is half-open (IKE_SA_INIT or IKE_AUTH under way)
    down         the conn is loaded but has no SA at all
    absent       configured in the site but not loaded in pluto: counts as down

A connection pluto has loaded that the site does not configure is reported as
`unexpected`. Anything but `up` is down for uptime and alerts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_CONN = re.compile(r'^\d{3} "(?P<name>[^"]+)"(?:\[\d+\])?: \S.*(?:===|\.\.\.)')
_LIFE = re.compile(r'^\d{3} "(?P<name>[^"]+)"(?:\[\d+\])?:\s+ike_life: (?P<life>\d+)s;')
_STATE = re.compile(
    r'^\d{3} #(?P<serial>\d+): "(?P<name>[^"]+)"(?:\[\d+\])?(?:\s\S+)?:\d+ (?P<state>STATE_\w+) '
    r"\((?P<what>[^)]*)\);(?P<rest>.*)$"
)
_TRAFFIC = re.compile(
    r'^\d{3} #(?P<serial>\d+): "(?P<name>[^"]+)"(?:\[\d+\])?(?:\s\S+)?, type=(?P<type>\w+), '
    r"add_time=(?P<add>\d+), inBytes=(?P<inb>\d+), outBytes=(?P<outb>\d+)"
)
_REPLACE = re.compile(r"REPLACE in (\d+)s")
_BRIEF = re.compile(r"^\d{3} (IKE|IPsec) SAs: total\((\d+)\)(?:, half-open\((\d+)\))?")

LABELS = {
    "up": "up",
    "ike-only": "IKE up, IPsec SA down",
    "negotiating": "half-open: IKE negotiating, not authenticated",
    "down": "down: loaded in pluto, no SA",
    "absent": "down: configured in the site but not loaded in pluto",
    "unexpected": "loaded in pluto but not configured in the site",
}


@dataclass
class TunnelStatus:
    name: str
    configured: bool = False
    loaded: bool = False
    ike_sa: int | None = None  # serial of the newest established IKE SA
    ike_age_s: int | None = None  # seconds since it was established (from its REPLACE timer)
    ipsec_sa: int | None = None
    ipsec_since: int | None = None  # unix time the IPsec SA was added
    bytes_in: int = 0
    bytes_out: int = 0
    half_open: bool = False
    rekeying: bool = False
    ike_life_s: int | None = None
    states: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        if not self.configured:
            return "unexpected"
        if not self.loaded:
            return "absent"
        if self.ike_sa is not None and self.ipsec_sa is not None:
            return "up"
        if self.ike_sa is not None:
            return "ike-only"
        if self.half_open:
            return "negotiating"
        return "down"

    @property
    def up(self) -> bool:
        return self.state == "up"

    @property
    def label(self) -> str:
        text = LABELS[self.state]
        return f"{text} (rekeying)" if self.rekeying else text

    def as_dict(self) -> dict[str, object]:
        return {
            "partner": self.name, "state": self.state, "label": self.label,
            "configured": self.configured, "loaded": self.loaded,
            "ike_sa": self.ike_sa, "ike_age_s": self.ike_age_s, "ipsec_sa": self.ipsec_sa,
            "ipsec_since": self.ipsec_since, "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out, "rekeying": self.rekeying,
        }


@dataclass(frozen=True, slots=True)
class Totals:
    ike: int = 0
    ike_half_open: int = 0
    ipsec: int = 0


def parse(text: str, configured: list[str]) -> dict[str, TunnelStatus]:
    """Each configured tunnel (and each unexpected conn) with what pluto says about it."""
    tunnels = {name: TunnelStatus(name, configured=True) for name in configured}

    def get(conn: str) -> TunnelStatus:
        # "payfast/1x1" is a sub-connection Libreswan makes for several subnets.
        base = conn.split("/", 1)[0]
        return tunnels.setdefault(base, TunnelStatus(base))

    for line in text.splitlines():
        if m := _STATE.match(line):
            _state(get(m["name"]), m)
        elif m := _TRAFFIC.match(line):
            t = get(m["name"])
            t.bytes_in += int(m["inb"])
            t.bytes_out += int(m["outb"])
            since = int(m["add"])
            t.ipsec_since = since if t.ipsec_since is None else min(t.ipsec_since, since)
        elif m := _CONN.match(line):
            get(m["name"]).loaded = True
        elif m := _LIFE.match(line):
            get(m["name"]).ike_life_s = int(m["life"])
    for t in tunnels.values():
        t.states.sort()
    return tunnels


def _state(t: TunnelStatus, m: re.Match[str]) -> None:
    t.loaded = True
    serial, state, rest = int(m["serial"]), m["state"], m["rest"]
    t.states.append(f"#{serial} {state}")
    if "REKEY" in state:
        t.rekeying = True
    elif state.endswith("ESTABLISHED_IKE_SA"):
        if t.ike_sa is None or serial > t.ike_sa:
            t.ike_sa = serial
            replace = _REPLACE.search(rest)
            if replace and t.ike_life_s:
                t.ike_age_s = max(0, t.ike_life_s - int(replace.group(1)))
    elif state.endswith("ESTABLISHED_CHILD_SA") or state.endswith("QUICK_R2") or \
            state.endswith("QUICK_I2"):
        t.ipsec_sa = serial if t.ipsec_sa is None else max(t.ipsec_sa, serial)
    elif state.startswith(("STATE_V2_PARENT", "STATE_V2_IKE_")) or "MAIN_" in state:
        t.half_open = True


def totals(text: str) -> Totals:
    ike = half = ipsec = 0
    for line in text.splitlines():
        if m := _BRIEF.match(line):
            if m[1] == "IKE":
                ike, half = int(m[2]), int(m[3] or 0)
            else:
                ipsec = int(m[2])
    return Totals(ike, half, ipsec)
