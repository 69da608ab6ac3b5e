"""corridor.patches.uvloop_sslobject: on uvloop, a failed handshake of EIG's partner
listener is reported with the peer's address and certificate, and the client still
gets the alert that says why; a good client is served as before."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
import uvloop

from corridor.eig.tlslayer import HandshakeFailure, audit_handshakes, listen
from corridor.pki.issue import create_ca, fingerprint, issue, write_issued
from corridor.pki.layout import Layout
from corridor.pki.tls import partner_client, partner_listener
from tests.patches.guard import import_refused, pretend_installed
from tests.support import free_port
from tests.tlskit import booted_layout, presenting


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


async def talk(port: int, client: ssl.SSLContext) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
    try:
        writer.write(b"hello")
        return await asyncio.wait_for(reader.readexactly(5), 10)
    finally:
        writer.close()


def test_a_refused_client_is_reported_and_told_why(tmp_path: Path) -> None:
    layout: Layout = booted_layout(tmp_path)
    rogue = issue(create_ca("Rogue CA"), "payfast", client=True)
    write_issued(rogue, tmp_path / "rogue.crt", tmp_path / "rogue.key")
    failures: list[HandshakeFailure] = []

    async def main() -> tuple[bytes, str]:
        reported = asyncio.Event()

        def on_failure(failure: HandshakeFailure) -> None:
            failures.append(failure)
            reported.set()

        port = free_port()
        listener = await listen(asyncio.get_running_loop(), Echo,
                                partner_listener(layout, prepare=audit_handshakes),
                                on_failure, "127.0.0.1", port)
        try:
            served = await talk(port, partner_client(layout, "payfast"))
            with pytest.raises((ssl.SSLError, ConnectionError)) as refused:
                await talk(port, presenting(layout.hub_ca[0], tmp_path / "rogue.crt",
                                            tmp_path / "rogue.key"))
            await asyncio.wait_for(reported.wait(), 10)
            return served, str(refused.value)
        finally:
            listener.close()

    served, told = uvloop.run(main())
    assert served == b"hello"
    assert "unknown ca" in told.lower()  # the alert OpenSSL queued reached the client
    assert failures == [HandshakeFailure(
        "127.0.0.1", "unknown_ca", "unable to get local issuer certificate",
        "O=Corridor,CN=payfast", fingerprint(rogue.cert))]


def test_another_uvloop_refuses_to_load_it(monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_installed(monkeypatch, "uvloop", "0.24.0")
    assert import_refused(monkeypatch, "corridor.patches.uvloop_sslobject") == (
        "corridor.patches.uvloop_sslobject was written for uvloop 0.23.0, but uvloop 0.24.0 "
        "is installed: check the patch against it (and its test), then update the version "
        "in the patch")
