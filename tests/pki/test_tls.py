"""The TLS contexts of every hop, built from the site's PKI layout only: the settings that
matter (TLS 1.2 at least, client certificates required or not, the CRL checked or not)
and a real handshake between the roles that talk to each other, so a regression in any
builder shows here."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import pytest

from corridor.pki.crl import write_crl
from corridor.pki.issue import load_issued
from corridor.pki.layout import Layout
from corridor.pki.tls import (
    MissingCredentials,
    hub_client,
    hub_client_to_partner,
    hub_listener,
    hub_server,
    partner_client,
    partner_listener,
    partner_server,
)
from tests.tlskit import booted_layout, handshake

HUB_CA, PARTNER_CA = "Corridor Remittance Hub Hub CA", "Corridor Remittance Hub Partner CA"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    return booted_layout(tmp_path_factory.mktemp("tls"))


def ca_names(ctx: ssl.SSLContext) -> set[str]:
    return {dict(p[0] for p in ca["subject"])["commonName"] for ca in ctx.get_ca_certs()}


def assert_modern(ctx: ssl.SSLContext) -> None:
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    for cipher in ctx.get_ciphers():
        assert cipher["aead"] and cipher["kea"] in ("kx-ecdhe", "kx-any"), cipher["name"]


def assert_server(ctx: ssl.SSLContext, crl: bool) -> None:
    assert_modern(ctx)
    assert ctx.options & ssl.OP_NO_COMPRESSION and ctx.options & ssl.OP_NO_RENEGOTIATION
    assert bool(ctx.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF) is crl


def assert_client(ctx: ssl.SSLContext) -> None:
    assert_modern(ctx)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_hub_server_and_hub_client_know_each_other_by_the_hub_ca(layout: Layout) -> None:
    server, client = hub_server(layout, "txn"), hub_client(layout, "eig")
    assert_server(server, crl=False)
    assert server.verify_mode == ssl.CERT_REQUIRED
    assert_client(client)
    assert ca_names(server) == ca_names(client) == {HUB_CA}
    assert handshake(server, client) == ("txn", "eig")
    with pytest.raises(ssl.SSLError):  # a partner's certificate is not the hub's
        handshake(server, partner_client(layout, "payfast"))


def test_hub_listener_follows_the_hub_crl_once_it_exists(layout: Layout, tmp_path: Path
                                                         ) -> None:
    shutil.copytree(layout.root, tmp_path / "site")
    copy = Layout(tmp_path / "site")
    copy.hub_crl.unlink()
    holder = hub_listener(copy, "rpt")  # an older site: served, without revocations
    assert_server(holder.current, crl=False)
    assert holder.current.verify_mode == ssl.CERT_REQUIRED
    write_crl(load_issued(*copy.hub_ca), copy.hub_crl)
    assert holder.refresh()
    assert_server(holder.current, crl=True)
    assert handshake(holder.current, hub_client(copy, "eig")) == ("rpt", "eig")


def test_partner_listener_needs_and_checks_the_partner_crl(layout: Layout, tmp_path: Path
                                                           ) -> None:
    prepared: list[ssl.SSLContext] = []
    holder = partner_listener(layout, prepare=prepared.append)
    assert prepared == [holder.current]
    assert_server(holder.current, crl=True)
    assert holder.current.verify_mode == ssl.CERT_REQUIRED
    assert ca_names(holder.current) == {PARTNER_CA}
    assert handshake(holder.current, partner_client(layout, "payfast")) == ("eig", "payfast")
    with pytest.raises(ssl.SSLError):  # the hub's own certificates are not partners'
        handshake(holder.current, hub_client(layout, "txn"))

    shutil.copytree(layout.root, tmp_path / "site")
    copy = Layout(tmp_path / "site")
    copy.partner_crl.unlink()
    with pytest.raises(MissingCredentials, match=r"partner-ca\.crl is missing; run `corridor pki"):
        partner_listener(copy)


def test_partner_server_requires_or_accepts_the_hubs_certificate(layout: Layout) -> None:
    required = partner_server(layout, "mobicash")
    optional = partner_server(layout, "mobicash", "optional")
    assert_server(required, crl=False)
    assert required.verify_mode == ssl.CERT_REQUIRED
    assert optional.verify_mode == ssl.CERT_OPTIONAL
    txn = hub_client_to_partner(layout)
    assert_client(txn)
    assert ca_names(txn) == {PARTNER_CA}
    assert handshake(required, txn) == ("mobicash-server", "txn")
    anonymous = ssl.create_default_context(cafile=layout.partner_ca[0])
    assert handshake(optional, anonymous) == ("mobicash-server", None)
    with pytest.raises(ssl.SSLError):
        handshake(required, anonymous)


def test_partner_client_trusts_the_hub_ca_only(layout: Layout) -> None:
    ctx = partner_client(layout, "payfast")
    assert_client(ctx)
    assert ca_names(ctx) == {HUB_CA}
    with pytest.raises(ssl.SSLCertVerificationError):  # a partner's server is not EIG
        handshake(partner_server(layout, "mobicash"), ctx)


def test_a_missing_file_is_named_with_the_command_that_makes_it(tmp_path: Path) -> None:
    empty = Layout(tmp_path)
    for build in (lambda: hub_server(empty, "txn"), lambda: hub_client(empty, "rpt"),
                  lambda: hub_listener(empty, "rpt"), lambda: partner_listener(empty),
                  lambda: hub_client_to_partner(empty), lambda: partner_client(empty, "x"),
                  lambda: partner_server(empty, "x")):
        with pytest.raises(MissingCredentials) as caught:
            build()
        assert str(caught.value).endswith(f"is missing; run `corridor pki bootstrap --site "
                                          f"{tmp_path}`")
