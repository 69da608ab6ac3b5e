"""`corridor capture` with real tcpdump: a partner's TLS on loopback (inner) and IKE/ESP
from its peer address between network namespaces (outer)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dpkt
import pytest
from click.testing import CliRunner

from corridor.net.cli import capture
from corridor.net.pcapsummary import summarise
from corridor.pki.bootstrap import bootstrap
from corridor.pki.layout import Layout
from corridor.pki.tls import client_context, server_context
from corridor.site import load_site
from corridor.site.edit import relocate
from tests.net.netns import lab, sh
from tests.support import free_port, need_root, need_tool, wait_for


class Capturing:
    """`corridor capture ...` in the background, its summary on stdout."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.err = tmp / "capture.err"
        with self.err.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "corridor", "capture", *args],
                                         stdout=subprocess.PIPE, stderr=err, text=True)
        wait_for(lambda: "listening on" in self.err.read_text() or self.proc.poll() is not None,
                 30, what="tcpdump listening")
        assert self.proc.poll() is None, self.err.read_text()

    def summary(self, timeout: float = 60) -> dict[str, object]:
        out, _ = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, self.err.read_text()
        return json.loads(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def server(port: int, tls: ssl.SSLContext | None = None) -> Iterator[None]:
    """Accepts on 127.0.0.1:port and echoes one read, over TLS when given a context;
    handshake refusals and resets end that connection only."""
    listener = socket.create_server(("127.0.0.1", port))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), conn:
                sock = tls.wrap_socket(conn, server_side=True) if tls else conn
                sock.sendall(sock.recv(1024))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(10)


def reset(port: int) -> None:
    """Connect, then close with SO_LINGER 0: the kernel sends a TCP reset."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def talk(port: int, ctx: ssl.SSLContext | None = None) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1") if ctx else raw
        sock.sendall(b"hello")
        return sock.recv(1024)


def tcp_ports(pcap: Path) -> set[int]:
    ports = set()
    with pcap.open("rb") as f:
        for _ts, frame in dpkt.pcap.Reader(f):
            tcp = dpkt.sll2.SLL2(frame).data.data
            if isinstance(tcp, dpkt.tcp.TCP):
                ports |= {tcp.sport, tcp.dport}
    return ports


def test_inner_capture_counts_payfasts_tls_resets_and_alerts(site_dir: Path,
                                                             tmp_path: Path) -> None:
    need_root()
    need_tool("tcpdump")
    eig, callbacks, elsewhere = free_port(), free_port(), free_port()
    relocate(site_dir, {"eig": eig, "payfast": callbacks})
    bootstrap(load_site(site_dir))
    pki = Layout(site_dir)
    eig_tls = server_context(*pki.hub("eig"), client_ca=pki.partner_ca[0])
    payfast = client_context(pki.hub_ca[0], *pki.partner("payfast"))
    anonymous_tls12 = client_context(pki.hub_ca[0])
    anonymous_tls12.maximum_version = ssl.TLSVersion.TLSv1_2

    with server(eig, eig_tls), server(callbacks), server(elsewhere):
        run = Capturing(tmp_path, "payfast", "--inner", "--seconds", "8", "--json",
                        "--site", str(site_dir), "--data", str(tmp_path / "var"))
        try:
            assert talk(eig, payfast) == b"hello"
            with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"):  # no certificate
                talk(eig, anonymous_tls12)
            reset(eig)
            assert talk(callbacks) == b"hello"
            assert talk(elsewhere) == b"hello"
            summary = run.summary()
        finally:
            run.kill()

    assert summary["packets"] > 0 and summary["bytes"] > 0
    assert summary["tcp_resets"] >= 1
    assert summary["tls_alerts"] >= 1
    assert summary["dropped_by_kernel"] == 0
    pcap = Path(str(summary["file"]))
    assert pcap.parent == tmp_path / "var" / "captures"
    assert pcap.stat().st_mode & 0o777 == 0o600, "payloads are partner data"
    assert summarise(pcap).as_dict().items() <= summary.items()
    ports = tcp_ports(pcap)
    assert {eig, callbacks} <= ports, "EIG's port and the sender callbacks are in"
    assert elsewhere not in ports, "traffic on another port is not"


PEER_SENDS = """
import socket, sys
hub, other = sys.argv[1], sys.argv[2]
def udp(port, payload, source="0.0.0.0"):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.sendto(payload, (hub, port))
ike = bytes(8) + bytes(8) + b"\\x21\\x20\\x22\\x08" + bytes(8)  # SPIs, next payload, version...
udp(500, ike)
udp(500, ike)
udp(4500, bytes(4) + ike)                 # IKE after NAT detection: non-ESP marker
udp(4500, b"\\x00\\x00\\x10\\x01" + bytes(24))  # ESP in UDP: SPI 0x1001
with socket.socket(socket.AF_INET, socket.SOCK_RAW, 50) as s:
    s.sendto(b"\\x00\\x00\\x10\\x02" + bytes(24), (hub, 0))  # ESP
udp(501, ike)                             # not IKE
udp(500, ike, source=other)               # not the peer
"""


def test_outer_capture_counts_ike_and_esp_from_the_peer_until_interrupted(
        site_dir: Path, tmp_path: Path) -> None:
    need_root()
    need_tool("tcpdump", "ip")
    peer_ip = load_site(site_dir).partners["payfast"].tunnel.peer_ip  # type: ignore[union-attr]
    stranger = "198.51.100.99"
    with lab() as w:
        hub, peer = w.ns("h"), w.ns("p")
        _, dev = w.link(hub, "198.51.100.1/24", peer, f"{peer_ip}/24")
        sh("ip", "addr", "add", f"{stranger}/24", "dev", dev, ns=peer)
        out = tmp_path / "outer.pcap"
        run = Capturing(tmp_path, "payfast", "--outer", "--netns", hub, "--write", str(out),
                        "--json", "--site", str(site_dir), "--data", str(tmp_path / "var"))
        try:
            sh(sys.executable, "-c", PEER_SENDS, "198.51.100.1", stranger, ns=peer)
            wait_for(lambda: summarise(out).packets >= 5, 30, what="the peer's packets")
            run.proc.send_signal(signal.SIGINT)  # Ctrl-C
            summary = run.summary()
        finally:
            run.kill()
    assert (summary["packets"], summary["ike"], summary["esp"]) == (5, 3, 2)
    assert summary["file"] == str(out)
    assert os.stat(out).st_mode & 0o777 == 0o600


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(capture, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_bad_input_is_one_line_and_captures_nothing(site_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "var"
    common = ("--site", str(site_dir), "--data", str(data), "--seconds", "1")
    desertx = site_dir / "partners" / "desertx.yaml"
    text = desertx.read_text()
    desertx.write_text(text[:text.index("tunnel:")])

    code, out = cli("nobody", *common)
    assert (code, out) == (1, f"error: no partner 'nobody' in {site_dir}/partners\n")
    code, out = cli("desertx", "--outer", *common)
    assert code == 1
    assert out == ("error: capture_nothing: desertx has no tunnel: nothing to capture on the "
                   "outer side (partners/desertx.yaml)\n")
    code, out = cli("payfast", *common, env={"PATH": str(tmp_path)})
    assert (code, out) == (1, "error: net_error: tcpdump is not installed "
                              "(make system-deps installs it)\n")
    need_tool("tcpdump")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code, out = cli("payfast", *common)
    assert (code, out) == (1, "error: net_error: capturing packets needs root\n")
    assert not data.exists() or not any(data.rglob("*.pcap"))
