"""A pluto daemon of its own: one per network namespace, each with its own run directory
(control socket, pid file), NSS database, secrets, config and log, so that several IKE
peers run on one machine without touching the system's /run/pluto or /etc/ipsec.*.

The run directory holds a UNIX socket: it must be on a file system that can (a tmpfs; not
the 9p share of a virtme-ng VM). `TunnelCA` issues the IKE certificates of peers that
authenticate with certificates, as PKCS#12 files that `import_p12` loads into NSS.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from corridor.net.errors import NetError
from corridor.net.pluto import Pluto
from corridor.net.runner import libexec, run

# An NSS sql: database, as `certutil -N` makes it.
NSS_FILES = ("cert9.db", "key4.db", "pkcs11.txt")


class PlutoDaemon:
    def __init__(self, ns: str | None, home: Path, conf_dir: Path,
                 rundir: Path | None = None, timeout: float = 30.0,
                 nss_from: Path | None = None) -> None:
        """`nss_from`: an empty NSS database to copy rather than make one with certutil
        (which takes seconds where CPU is scarce, e.g. under an emulated VM)."""
        self.ns, self.home, self.conf_dir = ns, home, conf_dir
        self.timeout = timeout  # per tool call
        self.run = rundir or home / "run"
        self.nss = home / "nss"
        self.log = home / "pluto.log"
        self.ctl = self.run / "pluto.ctl"
        for d in (self.run, self.nss, conf_dir):
            d.mkdir(parents=True, exist_ok=True)
        if not (self.nss / "cert9.db").exists() and nss_from is not None:
            for name in NSS_FILES:
                shutil.copy2(nss_from / name, self.nss / name)
        if not (self.nss / "cert9.db").exists():
            run(["certutil", "-N", "-d", f"sql:{self.nss}", "--empty-password"],
                timeout=timeout)
        (home / "ipsec.conf").write_text("config setup\n")
        secrets = home / "ipsec.secrets"
        secrets.write_text(f"include {conf_dir}/*.secrets\n")
        os.chmod(secrets, 0o600)

    @property
    def client(self) -> Pluto:
        return Pluto(self.ctl, self.timeout)

    def start(self, timeout: float = 30.0) -> PlutoDaemon:
        """Start pluto (it forks into the background) and wait for its control socket."""
        run([libexec("pluto"), "--config", str(self.home / "ipsec.conf"), "--rundir",
             str(self.run), "--nssdir", str(self.nss), "--secretsfile",
             str(self.home / "ipsec.secrets"), "--logfile", str(self.log), "--no-dnssec"],
            netns=self.ns, timeout=self.timeout)
        deadline = time.monotonic() + timeout
        while not self.ctl.exists():
            if time.monotonic() > deadline:
                raise NetError(f"pluto made no control socket in {timeout:.0f}s; see {self.log}")
            time.sleep(0.05)
        return self

    def pid(self) -> int | None:
        path = self.run / "pluto.pid"
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def whack(self, *args: str) -> str:
        return self.client.whack(*args, check=False)

    def load(self, config: Path, name: str) -> None:
        """Load conn `name` from `config` and start it."""
        self.client.add(config, name)
        self.client.initiate(name)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def import_ca(self, ca_pem: Path, nickname: str = "corridor-tunnel-ca") -> None:
        run(["certutil", "-A", "-d", f"sql:{self.nss}", "-n", nickname, "-t", "CT,,",
             "-i", str(ca_pem)], timeout=self.timeout)

    def import_p12(self, p12: Path, password: str) -> None:
        run(["pk12util", "-i", str(p12), "-d", f"sql:{self.nss}", "-W", password],
            timeout=self.timeout)


class TunnelCA:
    """A CA and IKE end-entity certificates whose SAN is the tunnel end's @FQDN IKE id.
    RSA keys: what every Libreswan `authby` default accepts."""

    def __init__(self, folder: Path, name: str = "Corridor tunnel CA") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
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
            .not_valid_after(now + dt.timedelta(days=30))
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
