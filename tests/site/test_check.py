"""`corridor site check` reports every fault as file:line: message and changes nothing."""

import subprocess
import sys
from pathlib import Path

import pytest

from corridor.site import SiteInvalid, check_site, load_site


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def faults(site: Path) -> list[str]:
    return [str(f) for f in check_site(site)]


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_demo_site_is_clean(site_dir: Path) -> None:
    assert faults(site_dir) == []
    site = load_site(site_dir)
    assert {"payfast", "mobicash", "islapay"} <= set(site.partners)
    assert site.receive_partner_for("KE", "KES").id == "mobicash"


def test_unknown_currency_is_reported_at_its_line(site_dir: Path) -> None:
    p = site_dir / "partners/payfast.yaml"
    edit(p, "currencies: [INR]", "currencies: [INX]")
    assert f"partners/payfast.yaml:{line_of(p, 'INX')}: unknown currency 'INX'" in faults(site_dir)


def test_cidr_that_does_not_parse(site_dir: Path) -> None:
    p = site_dir / "partners/mobicash.yaml"
    edit(p, "10.30.1.0/24]", "10.30.1.0/33]")
    found = faults(site_dir)
    assert any(f.startswith(f"partners/mobicash.yaml:{line_of(p, '/33')}: CIDR '10.30.1.0/33'")
               for f in found), found


def test_allowlist_of_the_whole_internet(site_dir: Path) -> None:
    edit(site_dir / "partners/mobicash.yaml", "10.30.1.0/24]", "0.0.0.0/0]")
    assert any("admits the whole Internet" in f for f in faults(site_dir))


def test_duplicate_partner_id(site_dir: Path) -> None:
    copy = site_dir / "partners/payfast-copy.yaml"
    copy.write_text((site_dir / "partners/payfast.yaml").read_text()
                    .replace("127.0.0.1/32, 10.20.1.0/24", "127.0.0.7/32"))
    assert any("duplicate partner id 'payfast'" in f for f in faults(site_dir))


def test_send_partner_without_callback_url(site_dir: Path) -> None:
    p = site_dir / "partners/payfast.yaml"
    edit(p, "callback_url: https://127.0.0.1:9101/corridor/callbacks\n", "")
    assert "partners/payfast.yaml:1: missing field 'callback_url'" in faults(site_dir)


def test_receive_partner_without_endpoint(site_dir: Path) -> None:
    edit(site_dir / "partners/mobicash.yaml", "endpoint: https://127.0.0.1:9201\n", "")
    assert "partners/mobicash.yaml:1: missing field 'endpoint'" in faults(site_dir)


def test_overlapping_allowlists_between_partners(site_dir: Path) -> None:
    p = site_dir / "partners/islapay.yaml"
    edit(p, "10.40.1.0/24]", "10.20.0.0/16]")
    line = line_of(site_dir / "partners/payfast.yaml", "allowed_ips")
    assert (f"partners/payfast.yaml:{line}: allowed_ips 10.20.1.0/24 of payfast overlaps "
            f"10.20.0.0/16 of islapay (partners/islapay.yaml:{line_of(p, 'allowed_ips')}): "
            "a source IP must name one partner") in faults(site_dir)


def test_typo_in_a_field_name(site_dir: Path) -> None:
    p = site_dir / "hub.yaml"
    edit(p, "margin_bps: 150", "margn_bps: 150")
    assert f"hub.yaml:{line_of(p, 'margn_bps')}: unknown field 'fx.margn_bps'" in faults(site_dir)


def test_amount_with_too_many_decimals(site_dir: Path) -> None:
    p = site_dir / "partners/payfast.yaml"
    edit(p, 'per_transfer: "500000.00"', 'per_transfer: "500000.005"')
    line = line_of(p, "500000.005")
    assert any(f.startswith(f"partners/payfast.yaml:{line}: limits.per_transfer") for f in
               faults(site_dir))


def test_yaml_syntax_error(site_dir: Path) -> None:
    (site_dir / "partners/islapay.yaml").write_text("id: islapay\nname: [unclosed\n")
    assert any(f.startswith("partners/islapay.yaml:") and "YAML" in f for f in faults(site_dir))


def test_corridor_without_rate(site_dir: Path) -> None:
    edit(site_dir / "hub.yaml", '    - {pair: INR/PHP, rate: "0.6745"}\n', "")
    assert any("no FX rate INR/PHP" in f for f in faults(site_dir))


def test_a_pin_written_into_a_partner_file_is_refused(site_dir: Path) -> None:
    # The pin is the fingerprint of pki/partners/<id>.crt; a second copy could only drift.
    p = site_dir / "partners/payfast.yaml"
    subject = "  subject: CN=payfast,O=PayFast Remittances,C=IN\n"
    edit(p, subject, subject + f'  pin_sha256: "{"ab" * 32}"\n')
    line = line_of(p, "pin_sha256")
    assert (f"partners/payfast.yaml:{line}: certificate.pin_sha256 is not read from here: "
            "the pin is taken from pki/partners/payfast.crt; delete this line") in faults(site_dir)


def test_a_partner_certificate_that_does_not_parse(site_dir: Path) -> None:
    (site_dir / "pki/partners").mkdir(parents=True)
    (site_dir / "pki/partners/payfast.crt").write_text("not a certificate\n")
    assert "pki/partners/payfast.crt:1: not a PEM certificate" in faults(site_dir)


def test_an_offboarded_partner_loads_disabled_and_stays_so(site_dir: Path) -> None:
    p = site_dir / "partners/desertx.yaml"
    p.write_text(p.read_text() + 'disabled: true\noffboarded: "2026-01-31T09:00:00.000Z"\n')
    assert faults(site_dir) == []
    desertx = load_site(site_dir).partner("desertx")
    assert desertx.disabled and desertx.offboarded == "2026-01-31T09:00:00.000Z"
    edit(p, "disabled: true", "disabled: false")
    assert (f"partners/desertx.yaml:{line_of(p, 'offboarded')}: an offboarded partner must "
            "stay `disabled: true`; onboard it again under a new id instead") in faults(site_dir)
    edit(p, "disabled: false", "disabled: true")
    edit(p, '"2026-01-31T09:00:00.000Z"', '"last tuesday"')
    assert any("offboarded 'last tuesday' must be an RFC 3339 time" in f
               for f in faults(site_dir))


def test_faulty_site_does_not_load(site_dir: Path) -> None:
    edit(site_dir / "partners/payfast.yaml", "role: send", "role: sender")
    with pytest.raises(SiteInvalid) as err:
        load_site(site_dir)
    assert "role must be one of send, receive, both" in str(err.value)


def test_cli_reports_file_line_and_exits_2(site_dir: Path) -> None:
    before = {p: p.read_bytes() for p in site_dir.rglob("*") if p.is_file()}
    edit(site_dir / "partners/payfast.yaml", "currencies: [INR]", "currencies: [INX]")
    run = subprocess.run([sys.executable, "-m", "corridor", "site", "check", str(site_dir)],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert f"{site_dir}/partners/payfast.yaml:5: unknown currency 'INX'" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    after = {p: p.read_bytes() for p in site_dir.rglob("*") if p.is_file()}
    assert set(after) == set(before)


def test_cli_ok_on_clean_site(site_dir: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "corridor", "site", "check", str(site_dir)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith(": ok")
