"""The capture summary counts TLS alerts where the records fall, not where segments do."""

from __future__ import annotations

from pathlib import Path

import dpkt
import pytest

from corridor.net.pcapsummary import PcapUnreadable, summarise

HANDSHAKE = bytes([22, 3, 3, 0, 4]) + b"\x02\x00\x00\x00"
ALERT = bytes([21, 3, 3, 0, 2, 2, 40])  # fatal handshake_failure
APPDATA = bytes([23, 3, 3, 0, 3]) + b"abc"


def segment(seq: int, payload: bytes, flags: int = dpkt.tcp.TH_ACK) -> bytes:
    tcp = dpkt.tcp.TCP(sport=8443, dport=50000, seq=seq, flags=flags, data=payload)
    ip = dpkt.ip.IP(src=b"\x7f\x00\x00\x01", dst=b"\x7f\x00\x00\x01", p=dpkt.ip.IP_PROTO_TCP,
                    data=tcp)
    ip.len = len(bytes(ip))
    return bytes(ip)


def pcap(path: Path, *packets: bytes) -> Path:
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_RAW)
        for n, packet in enumerate(packets):
            writer.writepkt(packet, ts=1_700_000_000 + n)
    return path


def test_an_alert_after_a_handshake_record_in_one_segment(tmp_path: Path) -> None:
    s = summarise(pcap(tmp_path / "a.pcap", segment(1000, HANDSHAKE + ALERT)))
    assert (s.packets, s.tls_alerts) == (1, 1)
    assert s.bytes == 20 + 20 + len(HANDSHAKE + ALERT)


def test_an_alert_split_across_segments_and_retransmitted_counts_once(tmp_path: Path) -> None:
    data = APPDATA + ALERT
    cut = len(APPDATA) + 3
    s = summarise(pcap(tmp_path / "a.pcap",
                       segment(1000, data[:cut]),
                       segment(1000 + cut, data[cut:]),
                       segment(1000 + cut, data[cut:]),  # retransmitted
                       segment(1000 + len(data), b"", dpkt.tcp.TH_RST)))
    assert (s.packets, s.tls_alerts, s.tcp_resets) == (4, 1, 1)


def test_a_capture_that_starts_mid_record_finds_the_next_one(tmp_path: Path) -> None:
    s = summarise(pcap(tmp_path / "a.pcap",
                       segment(1000, APPDATA[4:]),  # the tail of a record begun before
                       segment(1000 + len(APPDATA) - 4, ALERT)))
    assert s.tls_alerts == 1


def test_alert_bytes_inside_other_records_or_plain_tcp_are_not_alerts(tmp_path: Path) -> None:
    inside = bytes([23, 3, 3, 0, 7]) + ALERT
    s = summarise(pcap(tmp_path / "a.pcap", segment(1000, inside),
                       segment(5000, b"POST /hooks HTTP/1.1\r\n" + ALERT)))
    assert s.tls_alerts == 0


def test_a_file_cut_in_a_packet_header_counts_what_came_before(tmp_path: Path) -> None:
    first = segment(1000, ALERT)
    path = pcap(tmp_path / "a.pcap", first, segment(2000, HANDSHAKE))
    path.write_bytes(path.read_bytes()[:24 + 16 + len(first) + 10])  # file, packet headers
    assert summarise(path).packets == 1


def test_a_file_that_is_no_capture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a capture\n")
    with pytest.raises(PcapUnreadable, match="not a pcap file"):
        summarise(path)
