"""hub.yaml's `routing`: which receive partners pay out one corridor and payout method,
by priority or by weight (`corridor.core.routing.Route`), and its checks against the
partner files.

```yaml
routing:
  - {corridor: IN-KE, method: wallet, priority: [mobicash, kenpay]}
  - {corridor: AE-KE, method: wallet, weights: {mobicash: 3, kenpay: 1}}
```
"""

from __future__ import annotations

import re

from corridor.core.routing import Route
from corridor.site.faults import Faults
from corridor.site.fields import Reader
from corridor.site.model import Hub, Partner
from corridor.site.yamlines import Node

_CORRIDOR = re.compile(r"^([A-Z]{2})-([A-Z]{2})$")


def read_routes(r: Reader, faults: Faults, lines: dict[tuple[str, str], Node]
                ) -> tuple[Route, ...]:
    """The `routing` list of hub.yaml; `lines` gets where each route was written."""
    items = r.list("routing", required=False)
    routes: list[Route] = []
    for i, body in enumerate(items or ()):
        rr = Reader(body, items.at(i), faults, "routing[]")  # type: ignore[union-attr]  # items is set when the loop runs
        rr.allow_only("corridor", "method", "priority", "weights")
        corridor, method = rr.str("corridor"), rr.str("method")
        if corridor is not None and not _CORRIDOR.match(corridor):
            faults.add(rr.at("corridor"), f"corridor {corridor!r} must read SEND-RECEIVE "
                                          "countries, e.g. IN-KE")
            continue
        has_p, has_w = rr.has("priority"), rr.has("weights")
        if has_p == has_w:
            faults.add(rr.data.where, "a route names its partners under exactly one of "
                                      "`priority` (a list) or `weights` (partner: weight)")
            continue
        weights: tuple[int, ...] | None = None
        if has_p:
            partners = rr.strings("priority")
        else:
            w = rr.sub("weights")
            names, values = [], []
            for name in (w.data if w is not None else ()):
                value = w.int(name, 0, 1000) if w is not None else None
                if value is not None:
                    names.append(str(name))
                    values.append(value)
            partners, weights = tuple(names), tuple(values)
            if weights and not any(weights):
                faults.add(rr.at("weights"), "at least one weight must be above 0")
        if len(set(partners)) != len(partners):
            faults.add(rr.at("priority" if has_p else "weights"), "a partner is named twice")
        if corridor is None or method is None or not partners:
            continue
        if (corridor, method) in lines:
            faults.add(rr.data.where, f"duplicate route for {corridor} {method}")
        lines[(corridor, method)] = rr.data.where
        routes.append(Route(corridor, method, tuple(partners), weights))
    return tuple(routes)


def check_routes(hub: Hub, partners: dict[str, Partner], lines: dict[tuple[str, str], Node],
                 faults: Faults) -> None:
    """Each partner a route names exists, receives, pays out in the corridor's receive
    country and by its method."""
    for route in hub.routes:
        where = lines[(route.corridor, route.method)]
        country = route.corridor.split("-")[1]
        for pid in route.partners:
            p = partners.get(pid)
            if p is None:
                faults.add(where, f"route {route.corridor} {route.method}: no partner {pid!r}")
            elif not p.receives:
                faults.add(where, f"route {route.corridor} {route.method}: {pid} is not a "
                                  "receive partner")
            elif p.country != country:
                faults.add(where, f"route {route.corridor} {route.method}: {pid} pays out in "
                                  f"{p.country}, not {country}: it does not serve this corridor")
            elif route.method not in p.payout_methods:
                faults.add(where, f"route {route.corridor} {route.method}: {pid} does not pay "
                                  f"out by {route.method} (it offers "
                                  f"{', '.join(p.payout_methods)})")


def routed(hub: Hub, country: str, currency: str, partners: dict[str, Partner]) -> bool:
    """Whether some route covers every receive partner paying out in country/currency: then
    several of them there is a choice the routing rule makes, not an ambiguity."""
    there = {p.id for p in partners.values()
             if p.receives and p.country == country and currency in p.currencies}
    for route in hub.routes:
        if route.corridor.endswith(f"-{country}") and there <= set(route.partners):
            return True
    return False
