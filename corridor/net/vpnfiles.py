"""Writing, checking and applying the Libreswan files of every partner tunnel.

`check` asks Libreswan itself (`addconn --checkconfig`, `algparse`) and maps each
complaint back to the partner file it came from. `apply` validates first, writes only
files whose content changed (atomically, 0600 for secrets), then asks pluto to reread
secrets and replace only the changed connections; if pluto refuses one, the previous
files are put back and reloaded.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from corridor.net.errors import NetError, NotApplied
from corridor.net.libreswan import MARKER, ConfFile
from corridor.net.pluto import Pluto
from corridor.net.runner import libexec, run
from corridor.pki.files import write_atomic
from corridor.site.model import Site

_WHERE = re.compile(r"(/[^\s:']+/([a-z0-9-]+)\.conf):(\d+):\s*(.*)")
_PROPOSAL = re.compile(r"^\s*(ike|esp)=(.*)$", re.M)


def write_files(files: dict[str, ConfFile], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for f in files.values():
        write_atomic(out / f.name, f.text.encode(), f.mode)


def check(site: Site, files: dict[str, ConfFile]) -> list[str]:
    """Libreswan's complaints about the files, each as `partners/<id>.yaml: ...`."""
    sources = {p.id: p.source for p in site.partners.values()}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="corridor-vpn-") as tmp:
        folder = Path(tmp)
        write_files(files, folder)
        config = folder / "ipsec.conf"
        config.write_text(f"config setup\ninclude {folder}/*.conf\n")
        proc = run([libexec("addconn"), "--checkconfig", "--config", str(config)], check=False)
        seen = set()
        for line in (proc.stdout + proc.stderr).splitlines():
            m = _WHERE.search(line)
            if m and line not in seen:
                seen.add(line)
                pid = m.group(2)
                problems.append(f"{sources.get(pid, pid)}: {pid}.conf:{m.group(3)}: {m.group(4)}")
        if proc.returncode != 0 and not problems:
            text = " ".join((proc.stdout + proc.stderr).split())[:300]
            problems.append(f"addconn --checkconfig: {text or 'failed'}")
    verdicts: dict[tuple[str, str], str | None] = {}  # partners mostly share proposals
    for f in files.values():
        if not f.name.endswith(".conf"):
            continue
        for kind, value in _PROPOSAL.findall(f.text):
            if (kind, value) not in verdicts:
                verdicts[kind, value] = _refusal(kind, value)
            why = verdicts[kind, value]
            if why is not None:
                problems.append(f"{sources.get(f.partner, f.partner)}: tunnel.{kind} {value}: "
                                f"{why}")
    return problems


def _refusal(kind: str, value: str) -> str | None:
    """Why Libreswan's algparse refuses proposal `kind=value`, or None."""
    parsed = run([libexec("algparse"), f"{kind}={value}"], check=False)
    if parsed.returncode == 0:
        return None
    return next((ln.strip() for ln in parsed.stdout.splitlines() if "ERROR" in ln),
                "not accepted")


@dataclass
class Plan:
    write: dict[str, ConfFile] = field(default_factory=dict)  # changed or new files
    remove: list[str] = field(default_factory=list)  # stale files we generated earlier
    previous: dict[str, str] = field(default_factory=dict)  # old text of files we replace

    @property
    def conns(self) -> list[str]:
        """Connections to (re)load: partners with a changed .conf or .secrets."""
        return sorted({f.partner for f in self.write.values()})

    @property
    def gone(self) -> list[str]:
        return sorted({name.rsplit(".", 1)[0] for name in self.remove if name.endswith(".conf")})

    @property
    def changed(self) -> list[str]:
        return sorted(self.write) + [f"-{n}" for n in sorted(self.remove)]


def plan(files: dict[str, ConfFile], out: Path) -> Plan:
    p = Plan()
    for f in files.values():
        path = out / f.name
        old = path.read_text("utf-8") if path.is_file() else None
        if old != f.text or (path.stat().st_mode & 0o777) != f.mode:
            p.write[f.name] = f
            if old is not None:
                p.previous[f.name] = old
    if out.is_dir():
        for path in sorted(out.glob("*")):
            if path.suffix in (".conf", ".secrets") and path.name not in files:
                text = path.read_text("utf-8", errors="replace")
                if text.startswith(MARKER):
                    p.remove.append(path.name)
                    p.previous[path.name] = text
    return p


def apply(site: Site, files: dict[str, ConfFile], out: Path, pluto: Pluto | None) -> Plan:
    """Validate, write the changed files, and reload only the changed connections."""
    problems = check(site, files)
    if problems:
        raise NotApplied("; ".join(problems))
    p = plan(files, out)
    if not p.write and not p.remove:
        return p
    write_files(p.write, out)
    for name in p.remove:
        (out / name).unlink(missing_ok=True)
    if pluto is None or not pluto.running():
        return p
    try:
        if any(n.endswith(".secrets") for n in [*p.write, *p.remove]):
            pluto.reread_secrets()
        for name in p.gone:
            pluto.delete(name)
        for name in p.conns:
            conf = f"{name}.conf"
            if conf not in p.write or conf in p.previous:  # not new: its old conn goes
                pluto.delete(name)
            pluto.add(out / conf, name)
        # Dialled once all are loaded: pluto's IKE work for one does not slow the next.
        for name in p.conns:
            pluto.initiate(name)
    except NetError as exc:
        _roll_back(p, out, pluto)
        raise NetError(f"{exc.detail}; previous files and connections restored") from None
    return p


def _roll_back(p: Plan, out: Path, pluto: Pluto) -> None:
    for name in [*p.write, *p.remove]:
        path = out / name
        if name in p.previous:
            mode = 0o600 if name.endswith(".secrets") else 0o644
            write_atomic(path, p.previous[name].encode(), mode)
        else:
            path.unlink(missing_ok=True)
    pluto.reread_secrets()
    for name in sorted(set(p.conns) | set(p.gone)):
        pluto.delete(name)
        if (out / f"{name}.conf").is_file():
            try:
                pluto.add(out / f"{name}.conf", name)
                pluto.initiate(name)
            except NetError:
                pass  # the old conn failed to load too: status will show it as absent
