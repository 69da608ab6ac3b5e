"""Typed field readers over line-aware YAML. Each returns None (after recording a fault)
when the value is missing or wrong, so a check reports every fault in one pass."""

from __future__ import annotations

import builtins
import ipaddress
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from corridor.core.errors import InvalidInput
from corridor.core.money import is_currency, parse_minor
from corridor.site.faults import Faults
from corridor.site.model import IPNetwork
from corridor.site.yamlines import LDict, LList, Node

_ID = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class Reader:
    """Reads fields of one mapping, recording faults against the right line."""

    def __init__(self, data: Any, where: Node, faults: Faults, context: str = "") -> None:
        self.faults = faults
        self.context = context
        if isinstance(data, LDict):
            self.data: LDict = data
        else:
            if data is not None:
                faults.add(where, f"{context or 'file'} must be a mapping")
            self.data = LDict()
            self.data.where = where
            self.data.positions = {}

    def at(self, key: str) -> Node:
        return self.data.at(key)

    def allow_only(self, *keys: str) -> None:
        for key in self.data:
            if key not in keys:
                self.faults.add(self.at(key), f"unknown field {self._name(key)!r}")

    def _name(self, key: object) -> str:
        return f"{self.context}.{key}" if self.context else str(key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str, required: bool = True) -> Any:
        value = self.data.get(key)
        if value is None and required:
            self.faults.add(self.data.where, f"missing field {self._name(key)!r}")
        return value

    def str(self, key: str, required: bool = True) -> str | None:
        value = self.raw(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.faults.add(self.at(key), f"{self._name(key)} must be a string")
            return None
        return value

    def int(
        self, key: builtins.str, lo: builtins.int, hi: builtins.int, required: builtins.bool = True
    ) -> builtins.int | None:
        value = self.raw(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.faults.add(self.at(key), f"{self._name(key)} must be a whole number {lo}..{hi}")
            return None
        return value

    def bool(self, key: builtins.str, default: builtins.bool = False) -> builtins.bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.faults.add(self.at(key), f"{self._name(key)} must be true or false")
            return default
        return value

    def choice(
        self, key: builtins.str, choices: tuple[builtins.str, ...], required: builtins.bool = True
    ) -> builtins.str | None:
        value = self.str(key, required)
        if value is not None and value not in choices:
            allowed = ", ".join(choices)
            message = f"{self._name(key)} must be one of {allowed}, not {value!r}"
            self.faults.add(self.at(key), message)
            return None
        return value

    def ident(self, key: builtins.str) -> builtins.str | None:
        value = self.str(key)
        if value is not None and not _ID.match(value):
            self.faults.add(
                self.at(key), f"{self._name(key)} {value!r} must be lowercase letters, digits, '-'"
            )
            return None
        return value

    def country(self, key: builtins.str) -> builtins.str | None:
        value = self.str(key)
        if value is not None and not _COUNTRY.match(value):
            self.faults.add(self.at(key), f"{self._name(key)} {value!r} is not an ISO 3166 code")
            return None
        return value

    def currency(self, key: builtins.str, required: builtins.bool = True) -> builtins.str | None:
        value = self.str(key, required)
        if value is not None and not is_currency(value):
            self.faults.add(self.at(key), f"unknown currency {value!r}")
            return None
        return value

    def list(self, key: builtins.str, required: builtins.bool = True) -> LList | None:
        value = self.raw(key, required)
        if value is None:
            return None
        if not isinstance(value, LList):
            self.faults.add(self.at(key), f"{self._name(key)} must be a list")
            return None
        return value

    def strings(
        self, key: builtins.str, required: builtins.bool = True
    ) -> tuple[builtins.str, ...]:
        items = self.list(key, required)
        if items is None:
            return ()
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, str):
                self.faults.add(items.at(i), f"{self._name(key)} items must be strings")
            else:
                out.append(item)
        return tuple(out)

    def currencies(self, key: builtins.str) -> tuple[builtins.str, ...]:
        items = self.list(key)
        if items is None:
            return ()
        out: list[str] = []
        for i, item in enumerate(items):
            if not is_currency(item):
                self.faults.add(items.at(i), f"unknown currency {item!r}")
            else:
                out.append(item)
        if not items:
            self.faults.add(self.at(key), f"{self._name(key)} must name at least one currency")
        return tuple(out)

    def networks(self, key: builtins.str, required: builtins.bool = True) -> tuple[IPNetwork, ...]:
        items = self.list(key, required)
        if items is None:
            return ()
        out: list[IPNetwork] = []
        for i, item in enumerate(items):
            net = parse_cidr(item, items.at(i), self.faults)
            if net is not None:
                out.append(net)
        return tuple(out)

    def amount(
        self, key: builtins.str, currency: builtins.str | None, required: builtins.bool = True
    ) -> builtins.int | None:
        value = self.raw(key, required)
        if value is None or currency is None:
            return None
        try:
            return parse_minor(value, currency)
        except InvalidInput as exc:
            self.faults.add(self.at(key), f"{self._name(key)}: {exc.detail}")
            return None

    def decimal(self, key: builtins.str) -> Decimal | None:
        value = self.raw(key)
        if value is None:
            return None
        try:
            if not isinstance(value, str):
                raise InvalidOperation
            number = Decimal(value)
            if not number.is_finite() or number <= 0:
                raise InvalidOperation
        except InvalidOperation:
            self.faults.add(self.at(key), f"{self._name(key)} must be a positive decimal string")
            return None
        return number

    def ref(self, key: builtins.str, root: Path, required: builtins.bool = True) -> Path | None:
        """A path to a file inside the site (a secret, a key, a list); never outside it."""
        value = self.str(key, required)
        if value is None:
            return None
        path = (root / value).resolve()
        if Path(value).is_absolute() or not path.is_relative_to(root.resolve()):
            self.faults.add(self.at(key), f"{self._name(key)} must be a path inside the site")
            return None
        return path

    def https_url(self, key: builtins.str, required: builtins.bool = True) -> builtins.str | None:
        value = self.str(key, required)
        if value is not None and not re.match(r"^https://[A-Za-z0-9.\-\[\]:]+(/\S*)?$", value):
            self.faults.add(self.at(key), f"{self._name(key)} must be an https:// URL")
            return None
        return value

    def sub(self, key: builtins.str, required: builtins.bool = True) -> Reader | None:
        value = self.raw(key, required)
        if value is None:
            return None
        return Reader(value, self.at(key), self.faults, self._name(key))


def parse_cidr(value: Any, where: Node, faults: Faults) -> IPNetwork | None:
    if not isinstance(value, str):
        faults.add(where, f"{value!r} is not a CIDR")
        return None
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        faults.add(where, f"CIDR {value!r} does not parse: {exc}")
        return None
    if net.prefixlen == 0:
        faults.add(where, f"CIDR {value!r} admits the whole Internet")
        return None
    return net
