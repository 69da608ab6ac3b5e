"""corridor.patches.ssl_msg_callback: the certificate a client sent is kept even when
verification refuses it (EIG audits who was refused), over TLS 1.2 and 1.3."""

from __future__ import annotations

import platform
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from corridor.patches.ssl_msg_callback import keep_peer_certificates, peer_certificate_der
from corridor.pki.issue import create_ca, issue, write_issued
from corridor.pki.layout import Layout
from corridor.pki.tls import partner_listener
from tests.patches.guard import import_refused
from tests.tlskit import booted_layout, handshake, presenting


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    return booted_layout(tmp_path_factory.mktemp("msg-callback"))


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_a_refused_certificate_is_kept(layout: Layout, tmp_path: Path,
                                       version: ssl.TLSVersion) -> None:
    rogue = issue(create_ca("Rogue CA"), "payfast", client=True)
    write_issued(rogue, tmp_path / "rogue.crt", tmp_path / "rogue.key")
    client = presenting(layout.hub_ca[0], tmp_path / "rogue.crt", tmp_path / "rogue.key")
    client.maximum_version = version
    server = partner_listener(layout, prepare=keep_peer_certificates).current
    ends: list[ssl.SSLObject] = []
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(server, client, server_side=ends)
    # the very certificate OpenSSL refused
    assert peer_certificate_der(ends[0]) == rogue.cert.public_bytes(Encoding.DER)


def test_without_the_callback_nothing_is_kept(layout: Layout) -> None:
    ends: list[ssl.SSLObject] = []
    handshake(partner_listener(layout).current,
              presenting(layout.hub_ca[0], *layout.partner("payfast")), server_side=ends)
    assert peer_certificate_der(ends[0]) is None


def test_another_python_refuses_to_load_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "python_version", lambda: "3.12.4")
    assert import_refused(monkeypatch, "corridor.patches.ssl_msg_callback") == (
        "corridor.patches.ssl_msg_callback was written for CPython 3.11, but this is "
        "CPython 3.12.4: check the patch against it (and its test), then update the "
        "version in the patch")

