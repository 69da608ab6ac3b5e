"""The servers each lab host runs: a real sshd on every hub host, TXN, RPT, EIG and the jump
server from the lab's site, and each partner's application (the simulators) behind its
gateway. Each is waited for with a probe from inside its own host."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from corridor.jump.sshd import keygen
from corridor.jump.state import JumpState, ensure_key
from corridor.lab import netns
from corridor.lab.labsite import authorized_keys
from corridor.lab.plan import SERVED, Plan
from corridor.lab.procs import fork_corridor, spawn, wait_ready
from corridor.lab.state import Proc, State
from corridor.pki.layout import Layout
from corridor.pki.tls import hub_client, hub_client_to_partner
from corridor.probe import http_ok
from corridor.site.model import Site


def host_dir(state: State, host: str) -> Path:
    path = state.dir / "hosts" / host
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir(state: State, host: str) -> Path:
    return host_dir(state, host) / "data"


def desk_keys(state: State) -> Path:
    return host_dir(state, "desk") / "keys"


Waiting = list[tuple[Proc, Callable[[], bool]]]  # started, and how to know it is ready


def start_hub(site: Site, plan: Plan, state: State) -> Waiting:
    """Start sshd on every hub host and each hub server; return what to wait for. The
    servers start side by side: none needs another to start (EIG and RPT reach TXN when
    they are asked to)."""
    bastion = ""
    if "jump" in plan.hosts:
        jump = JumpState.under(data_dir(state, "jump"))
        jump.prepare()
        bastion = ensure_key(jump.client_key).export_public_key().decode().strip()
    keys = authorized_keys(site, desk_keys(state), bastion) if bastion else []
    waiting: Waiting = []
    for name in (n for n in SERVED if n in plan.hosts):
        proc = fork_corridor(state, name, name, ["serve", name, "--site", str(site.root),
                                                 "--data", str(data_dir(state, name))])
        waiting.append((proc, lambda name=name: _healthy(site, state, name)))
    # Probed from the jump host, the one host every host's rules let reach its SSH.
    prober = "jump" if "jump" in plan.hosts else None
    for h in site.hub.hosts:
        if h.name in plan.hosts:
            addr = str(plan.address(h.name))
            proc = _sshd(state, h.name, addr, h.ssh_port, keys)
            ns = state.ns(prober or h.name)
            waiting.append((proc, lambda ns=ns, a=addr, p=h.ssh_port: netns.tcp_open(ns, a, p)))
    return waiting


def wait_all(waiting: Waiting) -> None:
    for proc, ready in waiting:
        wait_ready(proc, ready)


def _sshd(state: State, host: str, address: str, port: int, keys: list[str]) -> Proc:
    folder = host_dir(state, host) / "sshd"
    folder.mkdir(exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation
    host_key = folder / "host_ed25519"
    if not host_key.exists():
        keygen(host_key, f"{host}.lab")
    auth = folder / "authorized_keys"
    auth.write_text("\n".join(keys) + "\n")
    config = folder / "sshd_config"
    config.write_text(
        f"ListenAddress {address}:{port}\nHostKey {host_key}\nAuthorizedKeysFile {auth}\n"
        "PidFile none\nUsePAM yes\nStrictModes no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        "Subsystem sftp internal-sftp\nLogLevel INFO\n")
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    return spawn(state, host, "sshd", [sshd, "-D", "-e", "-f", str(config)])


def start_partners(site: Site, plan: Plan, state: State) -> Waiting:
    """Start each partner's application; return what to wait for."""
    eig_port = plan.ports["eig"]
    waiting: Waiting = []
    for end in plan.partners.values():
        for what, port in end.serves:
            listen = f"{end.app_addr}:{port}"
            if what == "payouts":
                args = ["sim", "receive-partner", "--site", str(site.root), "--partner",
                        end.id, "--listen", listen, "--eig", f"https://{end.face}:{eig_port}"]
            else:
                args = ["sim", "send-partner", "--site", str(site.root), "--partner",
                        end.id, "serve-callbacks", "--listen", listen, "--journal",
                        str(host_dir(state, end.app) / "callbacks.jsonl")]
            proc = fork_corridor(state, end.app, f"sim {what}", args)
            addr = str(end.app_addr)
            waiting.append((proc, lambda h=end.app, a=addr, p=port:
                            _sim_healthy(site, state, h, a, p)))
    return waiting


def _healthy(site: Site, state: State, name: str) -> bool:
    ns = state.ns(name)
    if name == "txn":
        listen = site.hub.listen["txn"]
        layout = Layout(site.root)
        ctx = hub_client(layout, "eig")
        return netns.run_in(ns, http_ok, listen.host, listen.port, "/healthz", ctx, 2.0)
    if name == "eig":
        listen = site.hub.listen.get("eig_internal") or site.hub.listen["eig"]
        return netns.run_in(ns, http_ok, listen.host, listen.port, "/healthz", None, 2.0)
    listen = site.hub.listen[name]
    return netns.tcp_open(ns, listen.host, listen.port)


def _sim_healthy(site: Site, state: State, host: str, addr: str, port: int) -> bool:
    ctx = hub_client_to_partner(Layout(site.root))
    return netns.run_in(state.ns(host), http_ok, addr, port, "/sim/health", ctx, 2.0)
