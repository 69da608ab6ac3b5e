"""Real pluto daemons for the tests: one per namespace, each with its own run directory,
NSS database, secrets, config and log; and a tiny CA made with `cryptography`."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.net.netns import sh
from tests.support import wait_for

PLUTO = "/usr/libexec/ipsec/pluto"


class PlutoPeer:
    def __init__(self, ns: str, home: Path, conf_dir: Path) -> None:
        self.ns, self.home, self.conf_dir = ns, home, conf_dir
        self.run = home / "run"
        self.nss = home / "nss"
        self.log = home / "pluto.log"
        self.ctl = self.run / "pluto.ctl"
        for d in (self.run, self.nss, conf_dir):
            d.mkdir(parents=True, exist_ok=True)
        sh("certutil", "-N", "-d", f"sql:{self.nss}", "--empty-password")
        (home / "ipsec.conf").write_text("config setup\n")
        secrets = home / "ipsec.secrets"
        secrets.write_text(f"include {conf_dir}/*.secrets\n")
        os.chmod(secrets, 0o600)

    def start(self) -> None:
        sh(PLUTO, "--config", str(self.home / "ipsec.conf"), "--rundir", str(self.run),
           "--nssdir", str(self.nss), "--secretsfile", str(self.home / "ipsec.secrets"),
           "--logfile", str(self.log), "--no-dnssec", ns=self.ns)
        wait_for(self.ctl.exists, 10, what=f"pluto control socket in {self.ns}")

    def pid(self) -> int | None:
        path = self.run / "pluto.pid"
        return int(path.read_text().strip()) if path.is_file() else None

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10, what="pluto to exit")

    def whack(self, *args: str) -> str:
        return sh("ipsec", "whack", "--ctlsocket", str(self.ctl), *args, check=False).stdout

    def load(self, config: Path, name: str) -> None:
        proc = subprocess.run(["/usr/libexec/ipsec/addconn", "--ctlsocket", str(self.ctl),
                               "--config", str(config), name], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        self.whack("--initiate", "--asynchronous", "--name", name)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def import_ca(self, ca_pem: Path) -> None:
        sh("certutil", "-A", "-d", f"sql:{self.nss}", "-n", "corridor-test-ca", "-t", "CT,,",
           "-i", str(ca_pem))

    def import_p12(self, p12: Path, password: str) -> None:
        sh("pk12util", "-i", str(p12), "-d", f"sql:{self.nss}", "-W", password)


class TinyCA:
    """A CA and end-entity certificates whose SAN is the tunnel end's @FQDN IKE id."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Corridor test tunnel CA")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = folder / "ca.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, nickname: str, fqdn: str, password: str) -> Path:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(fqdn)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        p12 = self.folder / f"{nickname}.p12"
        p12.write_bytes(pkcs12.serialize_key_and_certificates(
            nickname.encode(), key, cert, None,
            serialization.BestAvailableEncryption(password.encode())))
        os.chmod(p12, 0o600)
        return p12
