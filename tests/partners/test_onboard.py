"""`corridor partner onboard`: one command from nothing to a partner with a certificate, an
API key, secrets, a checked perimeter and a kit; and bad input refused with one line and
the site byte for byte as it was."""

from __future__ import annotations

import hashlib
import re
import tarfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from corridor.core import signature
from corridor.eig.openapi import document_bytes
from corridor.partners import log
from corridor.pki.layout import Layout
from corridor.site import check_site, load_site
from tests.net.netns import lab
from tests.partners.support import DESCRIBED, PARTNER, api_key, booted_site, corridor, onboard
from tests.support import need_root, need_tool, site_snapshot

KIT = {"README.txt", "openapi.json", "hub-ca.crt", "partner-ca.crt", f"{PARTNER}.crt",
       "ipsec/corridor-hub.conf", "ipsec/tunnel.json"}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return booted_site(tmp_path)


def csr(path: Path, common_name: str, org: str = "ZamZam Pay"
        ) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "IN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    path.write_bytes(request.public_bytes(serialization.Encoding.PEM))
    return path, key


def replaced(option: str, value: str) -> list[str]:
    args = list(DESCRIBED)
    args[args.index(option) + 1] = value
    return args


def kit_files(kit: Path) -> dict[str, bytes]:
    return {str(p.relative_to(kit)): p.read_bytes() for p in kit.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("case", "message"), [
    ("overlapping allowlist", "allowed_ips 127.0.0.1/32 of zamzam overlaps 127.0.0.1/32 of "
                              "payfast"),
    ("bad CIDR", "CIDR '10.60.1.300/24'"),
    ("overlapping tunnel", "tunnel.partner_subnets 10.20.1.128/25 overlaps 10.20.1.0/24 of "
                           "payfast"),
    ("weak PSK", "tunnel.psk is 16 bytes; it must be at least 32"),
    ("CSR for someone else", "--csr asks for CN=payfast,O=PayFast Remittances,C=IN, but the "
                             "partner's certificate subject is CN=zamzam,O=ZamZam Pay,C=IN"),
    ("unknown currency", "unknown currency 'INX'"),
    ("tunnel without its peer", "--partner-subnet describe a tunnel: give its --peer-ip too"),
    ("firewall check refused", "nft refused the ruleset"),
    ("partner there already", "partners/payfast.yaml exists already"),
    ("kit there already", "exists already; the kit goes to a new place"),
])
def test_a_refused_onboarding_leaves_the_site_as_it_was(site: Path, tmp_path: Path, case: str,
                                                        message: str) -> None:
    kit = tmp_path / "kit"
    described, extra, pid = DESCRIBED, ["--no-apply"], PARTNER
    if case == "overlapping allowlist":
        described = replaced("--allowed-ip", "127.0.0.1/32")
    elif case == "bad CIDR":
        described = replaced("--partner-subnet", "10.60.1.300/24")
    elif case == "overlapping tunnel":
        described = replaced("--partner-subnet", "10.20.1.128/25")
    elif case == "weak PSK":
        (tmp_path / "short.psk").write_text("0123456789abcdef\n")
        extra += ["--psk-file", str(tmp_path / "short.psk")]
    elif case == "CSR for someone else":
        path, _ = csr(tmp_path / "payfast.csr", "payfast", "PayFast Remittances")
        extra += ["--csr", str(path)]
    elif case == "unknown currency":
        described = replaced("--currency", "INX")
    elif case == "tunnel without its peer":
        described = [*DESCRIBED[:DESCRIBED.index("--peer-ip")], "--partner-subnet", "10.6.0/24"]
    elif case == "firewall check refused":
        need_tool("ip", "nft")
        extra += ["--netns", "corridor-no-such-namespace"]
    elif case == "partner there already":
        pid = "payfast"
    elif case == "kit there already":
        kit.mkdir()
    before = site_snapshot(site)
    out = corridor("partner", "onboard", pid, *described, "--site", str(site),
                   "--data", str(tmp_path / "var"), "--kit", str(kit), *extra)
    assert out.returncode != 0
    assert message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "api key" not in out.stdout
    assert out.stderr.strip().splitlines()[-1].startswith("error:")
    assert site_snapshot(site) == before
    assert not (tmp_path / "kit.tar.gz").exists()
    assert case == "kit there already" or not kit.exists()


def test_the_kit_holds_what_the_partner_needs_and_nothing_of_ours(site: Path,
                                                                  tmp_path: Path) -> None:
    need_root()  # nft -c
    need_tool("nft", "ipsec")
    kit, data = tmp_path / "kit", tmp_path / "var"
    out = onboard(site, data, kit, "--archive", "--test-accounts", "--no-apply")
    assert out.returncode == 0, out.stderr
    key = api_key(out)
    files = kit_files(kit)
    assert set(files) == KIT | {f"{PARTNER}.key"}

    layout = Layout(site)
    cert_path, key_path = layout.partner(PARTNER)
    assert files[f"{PARTNER}.crt"] == cert_path.read_bytes()
    assert files["hub-ca.crt"] == layout.hub_ca[0].read_bytes()
    assert files["partner-ca.crt"] == layout.partner_ca[0].read_bytes()
    assert files["openapi.json"] == document_bytes()
    assert (kit / f"{PARTNER}.key").stat().st_mode & 0o777 == 0o600
    own = serialization.load_pem_private_key(files[f"{PARTNER}.key"], None)
    cert = x509.load_pem_x509_certificate(files[f"{PARTNER}.crt"])
    assert cert.public_key() == own.public_key()
    assert cert.subject.rfc4514_string() == "CN=zamzam,O=ZamZam Pay,C=IN"

    # Nothing of ours: no CA or server key, no other partner's material, no secret, and
    # never the API key or its hash.
    ours = [p for p in (*layout.pki.rglob("*"), *layout.secrets.rglob("*")) if p.is_file()
            and p.name not in ("hub-ca.crt", "partner-ca.crt", f"{PARTNER}.crt", f"{PARTNER}.key")]
    assert any(p.name == "partner-ca.key" for p in ours)
    blobs = list(files.values())
    for path in ours:
        secret = path.read_bytes().strip()
        assert not any(secret in blob for blob in blobs), f"{path} is in the kit"
    assert not any(key.encode() in blob for blob in blobs)
    assert not any(hashlib.sha256(key.encode()).hexdigest().encode() in b for b in blobs)

    readme = files["README.txt"].decode()
    assert "Base URL:  https://127.0.0.1:8443" in readme
    assert "Authorization: Bearer" in readme and "/v1/quotes" in readme
    assert "254700000001   JOHN KAMAU" in readme and "FROZEN ACCOUNT HOLDER" in readme
    # A send partner's kit names the sandbox, the catalogue and what produces each outcome.
    assert "corridor sandbox" in readme and "GET /v1/corridors" in readme
    assert "254700999001" in readme and "rates_stale" in readme
    header = re.search(r"header  Corridor-Signature: (t=\d+,v1=[0-9a-f]+)", readme).group(1)
    body = re.search(r"body    (.*)", readme).group(1).encode()
    secret = bytes.fromhex(re.search(r"secret  ([0-9a-f]+)", readme).group(1))
    signature.verify(secret, header, body, int(header[2:header.index(",")]))
    conf = files["ipsec/corridor-hub.conf"].decode()
    assert "left=198.51.100.60" in conf and "rightsubnet=10.99.6.0/24" in conf
    assert "PSK" not in conf

    with tarfile.open(tmp_path / "kit.tar.gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
    assert set(members) == {f"kit/{name}" for name in files}
    assert members[f"kit/{PARTNER}.key"].mode & 0o777 == 0o600
    assert (tmp_path / "kit.tar.gz").stat().st_mode & 0o777 == 0o600

    # The site: the partner checked and loaded, its secrets 0600, the key kept hashed.
    assert check_site(site) == []
    partner = load_site(site).partner(PARTNER)
    assert partner is not None and partner.cert_pin_sha256 and partner.tunnel is not None
    for ref in (f"secrets/{PARTNER}.apikey.hash", f"secrets/{PARTNER}.hmac",
                f"secrets/{PARTNER}.psk", f"pki/partners/{PARTNER}.key"):
        assert (site / ref).stat().st_mode & 0o777 == 0o600, ref
    stored = (site / f"secrets/{PARTNER}.apikey.hash").read_text().strip()
    assert stored == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert key_path.exists()
    [entry] = log.read(data)
    assert (entry["action"], entry["partner"], entry["api_key"]) == ("onboard", PARTNER, "new")
    assert key not in (data / "partners" / "log.jsonl").read_text()


def test_a_partner_that_sent_a_csr_keeps_its_key(site: Path, tmp_path: Path) -> None:
    need_root()
    need_tool("nft", "ipsec")
    request, key = csr(tmp_path / "zamzam.csr", PARTNER)
    kit = tmp_path / "kit"
    out = onboard(site, tmp_path / "var", kit, "--csr", str(request), "--with-secrets",
                  "--no-apply")
    assert out.returncode == 0, out.stderr
    files = kit_files(kit)
    assert set(files) == KIT | {"secrets/callback-secret.hex", "secrets/corridor-hub.secrets"}
    cert = x509.load_pem_x509_certificate(files[f"{PARTNER}.crt"])
    assert cert.public_key() == key.public_key()
    assert not Layout(site).partner(PARTNER)[1].exists()  # no key of theirs with us
    for name in ("secrets/callback-secret.hex", "secrets/corridor-hub.secrets"):
        assert (kit / name).stat().st_mode & 0o777 == 0o600
    assert files["secrets/callback-secret.hex"] == (site / "secrets/zamzam.hmac").read_bytes()
    assert b"PSK 0s" in files["secrets/corridor-hub.secrets"]
    readme = " ".join(files["README.txt"].decode().split())
    assert "the one you made the certificate signing request with" in readme
    assert "secrets/callback-secret.hex in this kit" in readme


def test_a_perimeter_that_cannot_be_applied_is_said_and_the_partner_stays(site: Path,
                                                                          tmp_path: Path) -> None:
    need_root()
    need_tool("ip", "nft", "ipsec")
    (tmp_path / "etc").write_text("a file where the conns' directory should be\n")
    not_a_dir = tmp_path / "etc" / "ipsec.d"
    pluto_ctl = tmp_path / "pluto.ctl"  # as if pluto ran: its control socket is there
    pluto_ctl.write_text("")
    with lab() as world:
        out = onboard(site, tmp_path / "var", tmp_path / "kit", "--netns", world.ns("fw"),
                      "--ipsec-dir", str(not_a_dir), "--ctlsocket", str(pluto_ctl))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "table inet corridor is not loaded on netns" in out.stdout
    assert f"vpn: {not_a_dir}: not applied: {not_a_dir}: Not a directory" in out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        "error: the site is onboarded but the perimeter is not applied everywhere (above)")
    assert load_site(site).partner(PARTNER) is not None and (tmp_path / "kit").is_dir()
    assert f"api key {PARTNER}: " in out.stdout  # shown once: also when the apply failed
