"""The servers' copy of the site follows the directory: a changed partner file is taken at
the next look, an edit that leaves the site invalid keeps the previous one in force (and is
taken once it is fixed), and nothing is read while nothing moved."""

from __future__ import annotations

from pathlib import Path

from corridor.site import Site
from corridor.site.watch import SiteWatch
from tests.support import copy_site


def test_the_watch_follows_edits_and_keeps_the_last_good_site(tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    seen: list[Site] = []
    watch = SiteWatch(site, lambda s: s, seen.append)
    assert watch.refresh() is False and seen == []
    assert watch.value.partners["islapay"].name != "IslaPay Renamed"

    path = site / "partners" / "islapay.yaml"
    good = path.read_text()
    name = watch.value.partners["islapay"].name
    path.write_text(good.replace(f"name: {name}", "name: IslaPay Renamed", 1))
    assert watch.refresh() is True
    assert watch.value.partners["islapay"].name == "IslaPay Renamed" and seen == [watch.value]

    path.write_text(good.replace("id: islapay", "id: [not, an, id]", 1))
    assert watch.refresh() is False
    assert watch.value.partners["islapay"].name == "IslaPay Renamed"

    path.write_text(good)
    assert watch.refresh() is True and watch.value.partners["islapay"].name == name
    # Removing the file by hand breaks hub.yaml's fees towards PH: the partner stays.
    path.unlink()
    assert watch.refresh() is False and "islapay" in watch.value.partners
