"""The ESP probe: its reading of the kernel's answers, and its verdict on this host's kernel
checked against what an ESP SA of our own does here."""

from __future__ import annotations

from corridor.lab.kernel import esp_support, judge
from tests.net.netns import lab, sh
from tests.support import need_root, need_tool


def test_judge_reads_the_kernels_answers() -> None:
    assert judge(0, "").available
    no_esp = judge(2, "Error: Requested type not found.\n")
    assert not no_esp.available
    assert str(no_esp) == ("no: the kernel has no ESP (CONFIG_INET_ESP): "
                           "Error: Requested type not found.")
    assert "CONFIG_XFRM_USER" in judge(2, "RTNETLINK answers: Protocol not supported").reason
    assert "needs root" in judge(2, "RTNETLINK answers: Operation not permitted").reason
    odd = judge(1, "Error: something new\n")
    assert not odd.available and odd.reason == "ip xfrm state add failed: Error: something new"


def _namespaces() -> list[str]:
    return sh("ip", "netns", "list").stdout.split()


def test_host_verdict_matches_an_esp_sa_of_our_own() -> None:
    need_root()
    need_tool("ip")
    before = _namespaces()
    verdict = esp_support()
    assert _namespaces() == before, "the probe's namespace outlived it"
    with lab() as w:
        ns = w.ns("esp")
        added = sh("ip", "xfrm", "state", "add", "src", "10.1.0.1", "dst", "10.1.0.2",
                   "proto", "esp", "spi", "0x200", "mode", "tunnel",
                   "enc", "cbc(aes)", "0x" + "ab" * 16, "auth", "hmac(sha256)", "0x" + "cd" * 32,
                   ns=ns, check=False)
        listed = sh("ip", "xfrm", "state", ns=ns).stdout
    assert verdict.available == (added.returncode == 0), (str(verdict), added.stderr)
    assert ("proto esp spi 0x00000200" in listed) == verdict.available, listed
