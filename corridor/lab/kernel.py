"""Does the running kernel carry ESP? The lab's tunnels need it for traffic; where it is
missing, `corridor lab` runs the lab inside a VM with a stock kernel instead.

The probe installs one ESP security association in a throwaway network namespace and
deletes the namespace, which takes the SA with it: nothing of it outlives the call (the
kernel may load its esp4 module on the way, which is what any tunnel would do).
`judge` reads the answer and is pure.

Run as `python -m corridor.lab.kernel`: prints the verdict; exit code 0 for yes, 1 for no.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

# The algorithms of the site's ESP proposals (aes256-sha2_256): AES-CBC with HMAC-SHA256.
# The kernel looks these up before the ESP type, so an answer about the type is an answer
# about ESP itself, not about a missing cipher.
_SA = ("xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp",
       "spi", "0x00000100", "mode", "tunnel",
       "enc", "cbc(aes)", "0x" + "11" * 32, "auth", "hmac(sha256)", "0x" + "22" * 32)

_REASONS = (
    ("requested type not found", "the kernel has no ESP (CONFIG_INET_ESP)"),
    ("function not implemented", "the kernel has no ESP (CONFIG_INET_ESP)"),
    ("protocol not supported", "the kernel has no IPsec netlink interface (CONFIG_XFRM_USER)"),
    ("algorithm not found", "the kernel lacks AES-CBC or HMAC-SHA256 for ESP"),
    ("operation not permitted", "probing ESP needs root"),
)


@dataclass(frozen=True, slots=True)
class EspSupport:
    available: bool
    reason: str

    def __str__(self) -> str:
        return f"{'yes' if self.available else 'no'}: {self.reason}"


def judge(returncode: int, stderr: str) -> EspSupport:
    """The verdict from `ip xfrm state add`'s exit code and error output."""
    if returncode == 0:
        return EspSupport(True, "the kernel installed an ESP security association")
    text = " ".join(stderr.split())
    for needle, reason in _REASONS:
        if needle in text.lower():
            return EspSupport(False, f"{reason}: {text}")
    return EspSupport(False, f"ip xfrm state add failed: {text or f'exit {returncode}'}")


def esp_support() -> EspSupport:
    """Probe the running kernel (needs root and iproute2)."""
    netns = f"corridor-esp-probe-{os.getpid()}"
    try:
        made = subprocess.run(["ip", "netns", "add", netns], capture_output=True, text=True)
    except FileNotFoundError:
        return EspSupport(False, "cannot probe ESP: ip (iproute2) is not installed")
    if made.returncode != 0:
        why = " ".join(made.stderr.split())
        if "permission denied" in why.lower() or "not permitted" in why.lower():
            return EspSupport(False, f"probing ESP needs root: {why}")
        return EspSupport(False, f"cannot make a network namespace to probe ESP: {why}")
    try:
        added = subprocess.run(["ip", "-n", netns, *_SA], capture_output=True, text=True)
    finally:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)
    return judge(added.returncode, added.stderr)


def main() -> int:
    verdict = esp_support()
    print(f"ESP: {verdict}")
    return 0 if verdict.available else 1


if __name__ == "__main__":
    sys.exit(main())
