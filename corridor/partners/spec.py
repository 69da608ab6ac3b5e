"""What an operator says about a new partner, and the partner file it becomes. `partner add`
and `partner onboard` both write a partner's file from here, so the two cannot name its
secrets or shape its fields differently."""

from __future__ import annotations

from dataclasses import dataclass

# The proposals of the demo's tunnels: IKEv2 with AES-256, SHA-256 and group 19 (P-256).
DEFAULT_IKE = "aes256-sha2_256;dh19"
DEFAULT_ESP = "aes256-sha2_256"


def api_key_ref(partner_id: str) -> str:
    return f"secrets/{partner_id}.apikey.hash"


def callback_secret_ref(partner_id: str) -> str:
    return f"secrets/{partner_id}.hmac"


def psk_ref(partner_id: str) -> str:
    return f"secrets/{partner_id}.psk"


@dataclass(frozen=True, slots=True)
class TunnelSpec:
    peer_ip: str
    peer_id: str
    partner_subnets: tuple[str, ...]
    hub_subnets: tuple[str, ...]
    auth: str = "psk"
    ike: str = DEFAULT_IKE
    esp: str = DEFAULT_ESP


@dataclass(frozen=True, slots=True)
class PartnerSpec:
    id: str
    name: str
    country: str
    role: str
    currencies: tuple[str, ...]
    allowed_ips: tuple[str, ...]
    callback_url: str | None = None
    endpoint: str | None = None
    connector: str = "https-json"
    payout_methods: tuple[str, ...] = ()
    float_floor: str = "0.00"
    tunnel: TunnelSpec | None = None

    @property
    def subject(self) -> str:
        """The client certificate's subject (RFC 4514), which the site pins it by."""
        return f"CN={self.id},O={_rdn(self.name)},C={self.country}"

    def fields(self) -> dict[str, object]:
        """The partner file's fields, for `corridor.site.edit.partner_document`. A field
        the role needs but the operator left out is None, so that the site check names it."""
        doc: dict[str, object] = {
            "id": self.id, "name": self.name, "country": self.country, "role": self.role,
            "currencies": list(self.currencies), "allowed_ips": list(self.allowed_ips),
            "certificate": {"subject": self.subject},
            "api_key": api_key_ref(self.id),
            "callback_secret": callback_secret_ref(self.id),
        }
        if self.role in ("send", "both"):
            doc["callback_url"] = self.callback_url
            doc["float"] = {"floor": self.float_floor}
        if self.role in ("receive", "both"):
            doc.update(endpoint=self.endpoint, connector=self.connector,
                       payout_methods=list(self.payout_methods))
        t = self.tunnel
        if t is not None:
            tunnel: dict[str, object] = {
                "peer_ip": t.peer_ip, "peer_id": t.peer_id,
                "partner_subnets": list(t.partner_subnets), "hub_subnets": list(t.hub_subnets),
                "auth": t.auth,
            }
            if t.auth == "psk":
                tunnel["psk"] = psk_ref(self.id)
            doc["tunnel"] = {**tunnel, "ike": t.ike, "esp": t.esp}
        return doc


def _rdn(value: str) -> str:
    """A value inside an RFC 4514 name: `,+"\\<>;=` and a leading `#` or space escaped."""
    out = "".join(f"\\{c}" if c in ',+"\\<>;=' else c for c in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    return out
