"""Bad partner tunnel definitions are refused with file:line before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from corridor.net.cli import firewall, vpn
from corridor.site import check_site


def _edit(site: Path, partner: str, old: str, new: str) -> None:
    path = site / "partners" / f"{partner}.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _faults(site: Path) -> list[str]:
    return [str(f) for f in check_site(site)]


def _line_of(site: Path, partner: str, needle: str) -> int:
    lines = (site / "partners" / f"{partner}.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_demo_site_tunnels_are_clean(site_dir: Path) -> None:
    assert _faults(site_dir) == []


def test_overlapping_partner_subnets_across_partners(site_dir: Path) -> None:
    _edit(site_dir, "payfast", "partner_subnets: [10.20.1.0/24]",
          "partner_subnets: [10.20.1.0/24, 10.30.1.128/25]")
    line = _line_of(site_dir, "payfast", "partner_subnets:")
    assert any(f.startswith(f"partners/payfast.yaml:{line}:") and "10.30.1.128/25 overlaps"
               in f and "mobicash" in f for f in _faults(site_dir)), _faults(site_dir)


def test_partner_subnet_inside_a_hub_subnet(site_dir: Path) -> None:
    _edit(site_dir, "islapay", "partner_subnets: [10.40.1.0/24]",
          "partner_subnets: [10.99.0.0/25]")
    faults = _faults(site_dir)
    assert any(f.startswith("partners/islapay.yaml:") and "hub subnet 10.99.0.0/24 of payfast"
               in f for f in faults), faults


def test_allowlist_of_the_whole_internet(site_dir: Path) -> None:
    _edit(site_dir, "payfast", "allowed_ips: [127.0.0.1/32, 10.20.1.0/24]",
          "allowed_ips: [0.0.0.0/0]")
    line = _line_of(site_dir, "payfast", "allowed_ips:")
    assert f"partners/payfast.yaml:{line}: CIDR '0.0.0.0/0' admits the whole Internet" \
        in _faults(site_dir)


def test_short_psk(site_dir: Path) -> None:
    secrets = site_dir / "secrets"
    secrets.mkdir(exist_ok=True)
    psk = secrets / "payfast.psk"
    psk.write_text("too-short-secret\n")
    os.chmod(psk, 0o600)
    line = _line_of(site_dir, "payfast", "psk:")
    assert f"partners/payfast.yaml:{line}: tunnel.psk is 16 bytes; it must be at least 32" \
        in _faults(site_dir)


def test_readable_psk_file(site_dir: Path) -> None:
    (site_dir / "secrets").mkdir(exist_ok=True)
    psk = site_dir / "secrets" / "payfast.psk"
    psk.write_text("x" * 40)
    os.chmod(psk, 0o644)
    assert any("must be mode 0600" in f for f in _faults(site_dir))


def test_unknown_and_weak_proposals(site_dir: Path) -> None:
    _edit(site_dir, "payfast", "ike: aes256-sha2_256;dh19", "ike: aes999-sha2_256;dh19")
    _edit(site_dir, "mobicash", "esp: aes256-sha2_256", "esp: 3des-md5")
    faults = _faults(site_dir)
    ike_line = _line_of(site_dir, "payfast", "ike:")
    assert (f"partners/payfast.yaml:{ike_line}: tunnel.ike 'aes999-sha2_256;dh19': "
            "unknown algorithm 'aes999'") in faults
    assert any(f.startswith("partners/mobicash.yaml:") and "'3des' is too weak" in f
               for f in faults)


def test_bad_site_writes_nothing(site_dir: Path, tmp_path: Path) -> None:
    _edit(site_dir, "payfast", "ike: aes256-sha2_256;dh19", "ike: nope")
    out = tmp_path / "ipsec.d"
    result = CliRunner().invoke(vpn, ["render", "--site", str(site_dir), "--out", str(out)])
    assert result.exit_code == 2
    assert "partners/payfast.yaml:" in result.output and "unknown algorithm 'nope'" in result.output
    assert not out.exists()
    nft_out = tmp_path / "rules.nft"
    result = CliRunner().invoke(
        firewall, ["render", "--site", str(site_dir), "--out", str(nft_out)])
    assert result.exit_code == 2 and not nft_out.exists()


def test_render_refuses_a_missing_psk_with_one_line(site_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(vpn, ["render", "--site", str(site_dir), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("error: net_not_applied: partners/desertx.yaml: tunnel.psk")
    assert "Traceback" not in result.output
