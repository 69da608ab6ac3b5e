"""The partner listener audited by sslscan: TLS 1.2 and 1.3 only, no weak ciphers."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

from tests.eig.conftest import Gateway
from tests.support import need_tool

WEAK = ("RC4", "DES", "3DES", "NULL", "EXPORT", "MD5", "anon", "CBC", "SHA1")


def test_sslscan_finds_only_modern_tls(gw: Gateway) -> None:
    need_tool("sslscan")
    out = subprocess.run(["sslscan", "--no-colour", "--xml=-", f"127.0.0.1:{gw.port}"],
                         capture_output=True, text=True, timeout=120)
    xml = out.stdout[out.stdout.index("<?xml"):]
    root = ET.fromstring(xml)
    protocols = {(p.get("type"), p.get("version")): p.get("enabled")
                 for p in root.iter("protocol")}
    assert protocols[("tls", "1.0")] == "0" and protocols[("tls", "1.1")] == "0"
    assert protocols[("ssl", "2")] == "0" and protocols[("ssl", "3")] == "0"
    assert protocols[("tls", "1.2")] == "1" and protocols[("tls", "1.3")] == "1"
    ciphers = [(c.get("sslversion"), c.get("cipher"), c.get("strength"))
               for c in root.iter("cipher")]
    assert ciphers, xml[:2000]
    for version, name, strength in ciphers:
        assert version in ("TLSv1.2", "TLSv1.3"), (version, name)
        assert strength in ("strong", "acceptable"), (name, strength)  # never weak or medium
        assert not any(w in name for w in WEAK), name
