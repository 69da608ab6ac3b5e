"""Site edits (`corridor.site.edit`) change only the values they set: operators' comments,
key order, quoting and flow style stay byte for byte. An edit that would leave a fault is
refused with every fault as file:line and changes no file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from corridor.site import SiteInvalid, check_site, demo_site, load_site
from corridor.site.edit import relocate, set_value
from tests.support import site_snapshot

PORTS = {"eig": 41001, "eig_internal": 41002, "txn": 41003, "rpt": 41004, "jump": 41005,
         "mobicash": 41006, "payfast": 41007, "islapay": 41008, "desertx": 41009}


def changed(line: str, old: str, new: str) -> str:
    """`line` with `old` replaced by `new` and its end-of-line comment where it was."""
    out = line.replace(old, new, 1)
    comment = re.search(r"( +)#", out)
    if comment and len(new) != len(old):
        pad = max(1, len(comment.group(1)) - (len(new) - len(old)))
        out = out[:comment.start(1)] + " " * pad + out[comment.end(1):]
    return out


def expect(file: Path, edits: dict[str, tuple[str, str]]) -> str:
    """The text of `file` with, on each line that contains a key of `edits`, that edit."""
    lines = []
    for line in file.read_text().splitlines(keepends=True):
        for needle, (old, new) in edits.items():
            if needle in line:
                line = changed(line, old, new)
        lines.append(line)
    return "".join(lines)


def test_relocate_changes_only_the_ports(site_dir: Path) -> None:
    demo = demo_site()
    relocate(site_dir, PORTS)
    listeners = {f"  {name}: {{host": (f"port: {port_of}}}", f"port: {PORTS[name]}}}")
                 for name, port_of in (("eig", 8443), ("eig_internal", 9443), ("txn", 8444),
                                       ("rpt", 8445), ("jump", 2222))}
    assert (site_dir / "hub.yaml").read_text() == expect(demo / "hub.yaml", listeners)
    urls = {"mobicash": ("endpoint", 9201), "islapay": ("endpoint", 9301),
            "payfast": ("callback_url", 9101), "desertx": ("callback_url", 9401)}
    for pid, (key, port) in urls.items():
        file = f"partners/{pid}.yaml"
        edits = {f"{key}: ": (f":{port}", f":{PORTS[pid]}")}
        assert (site_dir / file).read_text() == expect(demo / file, edits), file
    assert (site_dir / "access.yaml").read_bytes() == (demo / "access.yaml").read_bytes()
    site = load_site(site_dir)
    assert site.hub.listen["txn"].port == 41003
    assert site.partners["mobicash"].endpoint == "https://127.0.0.1:41006"


def test_relocate_moves_a_listener_written_in_block_style(site_dir: Path) -> None:
    hub = site_dir / "hub.yaml"
    block = "  txn:\n    host: 127.0.0.1\n    port: 8444    # internal API\n"
    hub.write_text(hub.read_text().replace(
        "  txn: {host: 127.0.0.1, port: 8444}            # internal mTLS API for EIG and RPT\n",
        block))
    before = hub.read_text()
    relocate(site_dir, {"txn": 41003})
    assert hub.read_text() == before.replace("port: 8444    #", "port: 41003   #")
    assert load_site(site_dir).hub.listen["txn"].port == 41003


def test_a_port_that_collides_is_refused_and_changes_nothing(site_dir: Path) -> None:
    before = site_snapshot(site_dir)
    with pytest.raises(SiteInvalid) as refused:
        relocate(site_dir, {"mobicash": 41006, "txn": 8443})
    assert [str(f) for f in refused.value.faults] == [
        "hub.yaml:12: listen.txn 127.0.0.1:8443 is taken by listen.eig 127.0.0.1:8443"]
    assert site_snapshot(site_dir) == before


def test_a_bad_value_is_refused_at_its_line_and_changes_nothing(site_dir: Path) -> None:
    before = site_snapshot(site_dir)
    with pytest.raises(SiteInvalid) as refused:
        set_value(site_dir, "partners/payfast.yaml", ("float", "floor"), "0.001")
    assert str(refused.value).startswith("partners/payfast.yaml:14: float.floor: amount ")
    assert site_snapshot(site_dir) == before


def test_a_value_keeps_its_quotes_and_its_comment(site_dir: Path) -> None:
    hub = site_dir / "hub.yaml"
    set_value(site_dir, "hub.yaml", ("settlement", "cutoff"), "19:30")
    set_value(site_dir, "hub.yaml", ("compliance", "sanctions_threshold"), 90)
    assert hub.read_text() == expect(demo_site() / "hub.yaml", {
        "cutoff:": ('"18:00"', '"19:30"'), "sanctions_threshold:": ("88", "90")})
    assert load_site(site_dir).hub.sanctions_threshold == 90


@pytest.mark.parametrize("name", ["Yes", "NO", "12:30", "0755", "1.50"])
def test_a_string_yaml_would_read_as_something_else_is_quoted(site_dir: Path,
                                                              name: str) -> None:
    set_value(site_dir, "hub.yaml", ("hub", "name"), name)
    assert f'  name: "{name}"\n' in (site_dir / "hub.yaml").read_text()
    assert load_site(site_dir).hub.name == name


def test_a_missing_key_is_added_at_the_end_of_its_mapping(site_dir: Path) -> None:
    file = site_dir / "partners" / "islapay.yaml"
    set_value(site_dir, "partners/islapay.yaml", ("limits", "per_sender_daily"), "900000.00")
    assert file.read_text() == (demo_site() / "partners/islapay.yaml").read_text().replace(
        '  per_transfer: "500000.00"\n',
        '  per_transfer: "500000.00"\n  per_sender_daily: "900000.00"\n')
    assert check_site(site_dir) == []


def test_a_file_that_does_not_parse_is_reported_at_its_line(site_dir: Path) -> None:
    file = site_dir / "partners" / "mobicash.yaml"
    file.write_text(file.read_text().replace("payout_methods: [wallet]", "payout_methods: [wallet"))
    before = site_snapshot(site_dir)
    with pytest.raises(SiteInvalid) as refused:
        relocate(site_dir, {"mobicash": 41006})
    assert str(refused.value).startswith("partners/mobicash.yaml:13: YAML: ")
    assert site_snapshot(site_dir) == before
