"""Corridor's table on a live nftables: check, apply, read back, drift and counters.

Every operation may run inside a network namespace (`netns`), which is how tests and the
bench reach a firewall without touching the host's own ruleset.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

from corridor.net.errors import NetError, NotApplied
from corridor.net.firewall import DROPPED_SETS, TABLE
from corridor.net.runner import run


def check(script: str, netns: str | None = None, timeout: float = 30.0) -> None:
    """`nft -c`: the kernel's own parser and validator, without committing anything."""
    proc = run(["nft", "-c", "-f", "-"], netns=netns, stdin=script, check=False,
               timeout=timeout)
    if proc.returncode != 0:
        raise NotApplied(f"nft refused the ruleset: {_nft_error(proc.stderr)}")


def apply(script: str, netns: str | None = None, timeout: float = 30.0) -> None:
    """Replace Corridor's table in one `nft -f` transaction; on failure nothing changes."""
    check(script, netns, timeout)
    proc = run(["nft", "-f", "-"], netns=netns, stdin=script, check=False, timeout=timeout)
    if proc.returncode != 0:
        raise NetError(f"nft apply failed, previous rules kept: {_nft_error(proc.stderr)}")


def live_json(netns: str | None = None, table: str = TABLE) -> dict[str, Any] | None:
    """The live table as nft's JSON, or None when Corridor's table is not there."""
    proc = run(["nft", "-j", "list", "table", "inet", table], netns=netns, check=False)
    if proc.returncode != 0:
        if "No such file" in proc.stderr:
            return None
        raise NetError(f"nft list failed: {_nft_error(proc.stderr)}")
    live: dict[str, Any] = json.loads(proc.stdout)
    return live


def _structure(netns: str | None, table: str) -> str:
    """The table's chains and set declarations without set contents or counter values."""
    proc = run(["nft", "-s", "-t", "list", "table", "inet", table], netns=netns, check=False)
    return proc.stdout if proc.returncode == 0 else ""


def _expected(script: str, table: str) -> tuple[dict[str, Any], str]:
    """What the site's ruleset looks like once nft has read it: applied in a throwaway
    network namespace, so the comparison uses nft's own normal form."""
    listing = (
        f"nft -f - && nft -j list table inet {table} && echo '%%%' "
        f"&& nft -s -t list table inet {table}"
    )
    # A user namespace of its own makes the throwaway network namespace without
    # CAP_SYS_ADMIN: the firewall's unit holds CAP_NET_ADMIN alone (corridor.deploy), and
    # --keep-caps leaves nft that capability over the new namespace.
    proc = run(["unshare", "--user", "--keep-caps", "--net", "sh", "-c", listing],
               stdin=script, check=False)
    if proc.returncode != 0:
        raise NotApplied(f"nft refused the ruleset: {_nft_error(proc.stderr)}")
    data, _, text = proc.stdout.partition("%%%\n")
    return json.loads(data), text


@dataclass(frozen=True, slots=True)
class Drift:
    missing: dict[str, list[str]]  # set -> elements the site has and the live set lacks
    extra: dict[str, list[str]]  # set -> elements live that the site does not have
    rules: list[str]  # unified diff of chains and set declarations (no contents)
    absent: bool  # Corridor's table is not loaded at all

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.rules or self.absent)

    def summary(self) -> list[str]:
        """What applying the site changes, one short line per set (for the apply log)."""
        if self.absent:
            return ["table created"]
        lines = [f"{name}: +{len(v)}" for name, v in self.missing.items()]
        lines += [f"{name}: -{len(v)}" for name, v in self.extra.items()]
        if self.rules:
            lines.append("rules changed")
        return lines


def drift(script: str, netns: str | None = None, table: str = TABLE) -> Drift:
    """How the live table differs from what the site says it should be."""
    want_json, want_text = _expected(script, table)
    live = live_json(netns, table)
    if live is None:
        return Drift({}, {}, [], absent=True)
    want_sets, live_sets = set_elements(want_json), set_elements(live)
    for name in DROPPED_SETS:  # filled by the kernel as it drops, never by the site
        want_sets.pop(name, None)
        live_sets.pop(name, None)
    missing: dict[str, list[str]] = {}
    extra: dict[str, list[str]] = {}
    for name in sorted(set(want_sets) | set(live_sets)):
        w, g = want_sets.get(name, set()), live_sets.get(name, set())
        if w - g:
            missing[name] = sorted(w - g, key=_sort_key)
        if g - w:
            extra[name] = sorted(g - w, key=_sort_key)
    rules = list(difflib.unified_diff(
        want_text.splitlines(), _structure(netns, table).splitlines(),
        "site", "live", lineterm="", n=1,
    ))
    return Drift(missing, extra, rules, absent=False)


def set_elements(doc: dict[str, Any]) -> dict[str, set[str]]:
    """Set name -> elements as CIDR strings, whatever form nft printed them in."""
    sets: dict[str, set[str]] = {}
    for item in doc.get("nftables", []):
        s = item.get("set")
        if s is None:
            continue
        found: set[str] = set()
        for elem in s.get("elem", []):
            found.update(_cidrs(elem))
        sets[s["name"]] = found
    return sets


def _cidrs(elem: Any) -> list[str]:
    if isinstance(elem, dict) and "elem" in elem:
        elem = elem["elem"]["val"]
    if isinstance(elem, str):
        return [str(ipaddress.ip_network(elem))]
    if "prefix" in elem:
        return [f"{ipaddress.ip_address(elem['prefix']['addr'])}/{elem['prefix']['len']}"]
    if "range" in elem:
        lo, hi = (ipaddress.ip_address(a) for a in elem["range"])
        return [str(n) for n in ipaddress.summarize_address_range(lo, hi)]
    raise NetError(f"unexpected nft set element {elem!r}")


def _sort_key(cidr: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(cidr)
    return (net.version, int(net.network_address), net.prefixlen)


@dataclass(frozen=True, slots=True)
class Counter:
    rule: str  # the rule's comment, e.g. "eig payfast" or "drop eig"
    packets: int
    bytes: int


def counters(netns: str | None = None, table: str = TABLE) -> list[Counter]:
    """Packet and byte counters of each counted rule, named by the rule's comment."""
    live = live_json(netns, table)
    if live is None:
        raise NetError(f"table inet {table} is not loaded; run `corridor firewall apply`")
    return rule_counters(live)


def rule_counters(live: dict[str, Any]) -> list[Counter]:
    """The counters of each counted rule of a listed table."""
    found = []
    for item in live.get("nftables", []):
        rule = item.get("rule")
        if rule is None:
            continue
        for expr in rule.get("expr", []):
            if "counter" in expr:
                c = expr["counter"]
                found.append(Counter(rule.get("comment", ""), c["packets"], c["bytes"]))
    return found


@dataclass(frozen=True, slots=True)
class Dropped:
    source: str  # an address whose packets a guarded port dropped
    packets: int
    bytes: int


def dropped_sources(live: dict[str, Any]) -> list[Dropped]:
    """Packets and bytes dropped per source address (the `dropped_v4`/`dropped_v6` sets of
    a listed table), most packets first."""
    found = []
    for item in live.get("nftables", []):
        s = item.get("set")
        if s is None or s.get("name") not in DROPPED_SETS:
            continue
        for elem in s.get("elem", []):
            inner = elem.get("elem", {}) if isinstance(elem, dict) else {}
            c = inner.get("counter")
            if c is not None:
                found.append(Dropped(str(inner["val"]), c["packets"], c["bytes"]))
    return sorted(found, key=lambda d: (-d.packets, d.source))


def _nft_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [re.sub(r"^/dev/stdin:", "line ", ln) for ln in lines if "Error" in ln]
    return errors[0] if errors else (lines[0] if lines else "unknown error")
