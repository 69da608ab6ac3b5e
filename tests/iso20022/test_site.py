"""The `iso20022` block of a partner file: checked at its line like every other field."""

from pathlib import Path

from corridor.site import check_site, load_site
from tests.site.test_check import edit, line_of


def faults(site: Path) -> list[str]:
    return [str(f) for f in check_site(site)]


def test_an_iso_receive_partner_is_read(site_dir: Path) -> None:
    p = site_dir / "partners/mobicash.yaml"
    edit(p, "connector: https-json", "connector: iso20022\n"
         "iso20022:\n  bic: MOBIKENA\n  messages: [pacs.008.001.08, pacs.002.001.10, "
         "pacs.028.001.03]")
    assert faults(site_dir) == []
    iso = load_site(site_dir).partners["mobicash"].iso20022
    assert iso is not None and iso.bic == "MOBIKENA" and "pacs.028.001.03" in iso.messages


def test_connector_iso20022_needs_the_block(site_dir: Path) -> None:
    p = site_dir / "partners/mobicash.yaml"
    edit(p, "connector: https-json", "connector: iso20022")
    assert any("missing field 'iso20022'" in f for f in faults(site_dir)), faults(site_dir)


def test_a_bad_bic_and_an_unknown_version_are_reported_at_their_lines(site_dir: Path) -> None:
    p = site_dir / "partners/mobicash.yaml"
    edit(p, "connector: https-json", "connector: iso20022\niso20022:\n  bic: mobi-ke")
    assert f"partners/mobicash.yaml:{line_of(p, 'mobi-ke')}: iso20022.bic 'mobi-ke' is not " \
        "a BIC" in " ".join(faults(site_dir))
    edit(p, "bic: mobi-ke", "bic: MOBIKENA\n  messages: [pacs.008.001.02, pacs.002.001.10]")
    assert any("pacs.008.001.02' is not one Corridor speaks" in f for f in faults(site_dir))
    edit(p, "pacs.008.001.02, ", "")
    assert any("must include pacs.008.001.08" in f for f in faults(site_dir))
