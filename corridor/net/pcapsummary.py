"""What a capture holds, in the few numbers that troubleshooting starts from: packets,
bytes, TCP resets, TLS alerts, IKE and ESP packets.

The pcap is read with dpkt, a pure-Python packet parser with no dependencies, which knows
the link types tcpdump writes (Linux cooked v1/v2 for `-i any`, Ethernet, raw IP) and the
TLS record layer. tshark would dissect more, but it pulls libwireshark (about 110 MB with
its libraries) onto the hub's hosts to count five things, and its field names change
between releases. What dpkt does not do is follow a TCP stream; `_TlsStream` does only as
much of that as finding TLS record boundaries needs.

TLS alerts are the alert records visible on the wire: every one of TLS 1.2, and TLS 1.3's
before the ServerHello. TLS 1.3 encrypts the rest (a server refusing a client certificate
included) and they travel as application data, which no capture can tell apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import dpkt

from corridor.net.capture import ESP_PROTO, IKE_PORT, NAT_T_PORT

_TLS_ALERT = 21  # TLS ContentType alert
_TLS_TYPES = range(20, 25)  # change_cipher_spec, alert, handshake, application_data, heartbeat
_NON_ESP_MARKER = b"\x00\x00\x00\x00"  # RFC 3948: IKE on port 4500 starts with it
_SEQ_MOD = 1 << 32


@dataclass(slots=True)
class Summary:
    packets: int = 0
    bytes: int = 0  # IP bytes, headers included
    tcp_resets: int = 0
    tls_alerts: int = 0
    ike: int = 0  # IKE messages on UDP 500 and 4500
    esp: int = 0  # ESP, as IP protocol 50 or in UDP 4500

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class PcapUnreadable(ValueError):
    """The file is not a capture this module can read."""


def summarise(path: Path) -> Summary:
    """Count what the capture at `path` holds; PcapUnreadable if it is not a pcap or
    pcapng file of a link type tcpdump writes on Linux."""
    summary = Summary()
    streams: dict[tuple[object, ...], _TlsStream] = {}
    with path.open("rb") as f:
        try:
            reader = dpkt.pcap.UniversalReader(f)
        except (ValueError, dpkt.UnpackError) as exc:
            raise PcapUnreadable(f"{path}: not a pcap file ({exc})") from None
        decode = _link_decoder(reader.datalink())
        if decode is None:
            raise PcapUnreadable(f"{path}: link type {reader.datalink()} is not read here")
        try:
            for _ts, frame in reader:
                _count(summary, streams, decode(frame))
        except (dpkt.NeedData, dpkt.UnpackError):
            pass  # a capture cut off mid-packet: count what came before
    return summary


def _link_decoder(linktype: int):  # type: ignore[no-untyped-def]  # returns a dpkt decoder; dpkt has no types
    """A function from one captured frame to its IP packet (or None)."""
    if linktype == 276:  # LINKTYPE_LINUX_SLL2, what `tcpdump -i any` writes
        return lambda buf: dpkt.sll2.SLL2(buf).data
    if linktype == dpkt.pcap.DLT_LINUX_SLL:
        return lambda buf: dpkt.sll.SLL(buf).data
    if linktype == dpkt.pcap.DLT_EN10MB:
        return lambda buf: dpkt.ethernet.Ethernet(buf).data
    if linktype in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
        return lambda buf: dpkt.loopback.Loopback(buf).data
    if linktype in (dpkt.pcap.DLT_RAW, 12, 14, 228, 229):  # raw IPv4/IPv6 (tun, VTI)
        return _raw_ip
    return None


def _raw_ip(buf: bytes) -> object:
    version = buf[0] >> 4 if buf else 0
    if version == 4:
        return dpkt.ip.IP(buf)
    if version == 6:
        return dpkt.ip6.IP6(buf)
    return None


def _count(summary: Summary, streams: dict[tuple[object, ...], _TlsStream],
           ip: object) -> None:
    summary.packets += 1
    if isinstance(ip, dpkt.ip.IP):
        summary.bytes += ip.len
    elif isinstance(ip, dpkt.ip6.IP6):
        summary.bytes += 40 + ip.plen
    else:
        return
    proto, l4 = ip.p, ip.data
    if proto == ESP_PROTO:
        summary.esp += 1
    elif isinstance(l4, dpkt.udp.UDP):
        _count_udp(summary, l4)
    elif isinstance(l4, dpkt.tcp.TCP):
        if l4.flags & dpkt.tcp.TH_RST:
            summary.tcp_resets += 1
        if l4.data:
            key = (ip.src, l4.sport, ip.dst, l4.dport)
            stream = streams.setdefault(key, _TlsStream())
            summary.tls_alerts += stream.feed(l4.seq, bytes(l4.data))


def _count_udp(summary: Summary, udp: dpkt.udp.UDP) -> None:
    ports = (udp.sport, udp.dport)
    payload = bytes(udp.data)
    if IKE_PORT in ports:
        summary.ike += 1
    elif NAT_T_PORT in ports:
        if payload.startswith(_NON_ESP_MARKER):
            summary.ike += 1
        elif payload != b"\xff":  # not a NAT-keepalive: ESP in UDP
            summary.esp += 1


class _TlsStream:
    """One direction of a TCP connection, followed just far enough to find TLS record
    headers: in-order bytes are buffered until a record is whole; a retransmission is
    trimmed; a gap (a packet the capture missed) drops the buffer and waits for a segment
    that starts with a record header again. Traffic that is not TLS never starts one."""

    __slots__ = ("buf", "next_seq")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.buf = b""

    def feed(self, seq: int, payload: bytes) -> int:
        """Take one segment; return the number of alert records it completed."""
        if self.next_seq is not None:
            ahead = (seq - self.next_seq) % _SEQ_MOD
            if ahead >= _SEQ_MOD // 2:  # behind: a retransmission, maybe partly new
                payload = payload[_SEQ_MOD - ahead:]
                seq = self.next_seq
            elif ahead:
                self.next_seq = None  # a gap
        if self.next_seq is None:
            if not _record_start(payload):
                return 0
            self.next_seq, self.buf = seq, b""
        self.next_seq = (self.next_seq + len(payload)) % _SEQ_MOD
        self.buf += payload
        try:
            records, used = dpkt.ssl.tls_multi_factory(self.buf)
        except dpkt.ssl.SSL3Exception:  # lost the record boundaries: wait for a new start
            self.next_seq, self.buf = None, b""
            return 0
        self.buf = self.buf[used:]
        return sum(1 for r in records if r.type == _TLS_ALERT)


def _record_start(payload: bytes) -> bool:
    return (len(payload) >= 5 and payload[0] in _TLS_TYPES
            and payload[1:3] in dpkt.ssl.SSL3_VERSION_BYTES)
