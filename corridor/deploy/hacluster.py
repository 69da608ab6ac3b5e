"""A local Patroni pair on one machine, for the HA tests and `corridor bench ha`: one etcd
(Debian `etcd-server`) and two PostgreSQL 15 nodes, each under its own Patroni daemon, run
as the `postgres` user with their own data and socket directories and ports under one
directory. It starts the real engines and kills them the three ways a host fails:

- `kill_postgres`: the primary's postmaster and its backends (SIGKILL); Patroni stays.
- `kill_node`: the whole primary host: its Patroni daemon and its PostgreSQL at once;
  `restart` brings the node back, as a rebooted host would.
- `kill_patroni`: only the primary's Patroni daemon; PostgreSQL keeps running, still a
  primary, until the daemon is back and demotes it.

Health is read from PostgreSQL itself (`pg_is_in_recovery`, `pg_stat_replication`'s
`sync_state`), never from Patroni's own view of itself.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from corridor.deploy.patroni import BIN_DIR, Node, multi_host_dsn, node_config
from corridor.ports import free_port

T = TypeVar("T")
USER = "postgres"
DATABASE = "corridor"
ETCD = "/usr/bin/etcd"
PATRONI = "/opt/patroni/bin/patroni"  # scripts/system-deps.sh installs it, pinned


class ClusterError(Exception):
    """The cluster did not reach the state asked for in time (the message says which)."""


def missing() -> str | None:
    """Why no local cluster can run here (None when it can)."""
    if os.geteuid() != 0:
        return "needs root (the nodes run as the postgres user)"
    if not Path(ETCD).exists():
        return "needs etcd (Debian etcd-server; make system-deps installs it)"
    if not (BIN_DIR / "postgres").exists():
        return f"needs PostgreSQL 15 in {BIN_DIR}"
    if not Path(PATRONI).exists():
        return f"needs {PATRONI} (make system-deps installs it)"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"needs a {USER} user"
    return None


def _wait(condition: Callable[[], T | None], timeout: float, what: str,
          interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # a node between states refuses connections; ask again
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Cluster:
    """Two Patroni nodes and one etcd under `root` (made, owned by postgres)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scope = f"corridor-{uuid.uuid4().hex[:8]}"
        self.etcd_port = free_port()
        self.etcd_peer = free_port()
        self.nodes = [
            Node(name, "127.0.0.1", free_port(), free_port(), root / name / "data",
                 root / name / "sock")
            for name in ("pg1", "pg2")
        ]
        self._etcd: subprocess.Popen[bytes] | None = None
        self._patroni: dict[str, subprocess.Popen[bytes]] = {}
        self._user = pwd.getpwnam(USER)

    # -- starting and stopping -----------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        self._etcd = subprocess.Popen(
            [ETCD, "--name", "etcd0", "--data-dir", str(self.root / "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
             "--initial-cluster", f"etcd0=http://127.0.0.1:{self.etcd_peer}",
             "--log-level", "warn"],
            stdout=self._log("etcd"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        for node in self.nodes:
            home = node.data_dir.parent
            home.mkdir(exist_ok=True)
            node.socket_dir.mkdir(exist_ok=True)
            config = node_config(self.scope, node, [f"127.0.0.1:{self.etcd_port}"],
                                 local_parameters={"shared_buffers": "64MB"})
            (home / "patroni.yml").write_text(yaml.safe_dump(config, sort_keys=False))
            for path in (home, node.socket_dir, home / "patroni.yml"):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
        self.start_node(self.nodes[0])
        self.wait_primary(timeout)
        self.start_node(self.nodes[1])
        self.wait_healthy(timeout)
        with self.connect(self.primary()) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")

    def _log(self, name: str) -> Any:
        path = self.root / f"{name}.log"
        handle = open(path, "ab")  # noqa: SIM115  (the child process holds it)
        os.chown(path, self._user.pw_uid, self._user.pw_gid)
        return handle

    def start_node(self, node: Node) -> None:
        """Start (or restart) `node`'s Patroni daemon, which starts its PostgreSQL."""
        log = self._log(node.name)
        self._patroni[node.name] = subprocess.Popen(
            [PATRONI, str(node.data_dir.parent / "patroni.yml")],
            stdout=log, stderr=subprocess.STDOUT, user=USER, group=self._user.pw_gid,
            cwd=node.data_dir.parent, start_new_session=True,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.root)},
        )
        log.close()

    def stop(self) -> None:
        for node in self.nodes:
            proc = self._patroni.get(node.name)
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for node in self.nodes:
            proc = self._patroni.get(node.name)
            if proc is not None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for pid in self._postgres_pids(node):
                _kill(pid, signal.SIGKILL)
        if self._etcd is not None:
            self._etcd.terminate()
            self._etcd.wait()

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it looks like --------------------------------------------------------------

    @property
    def dsn(self) -> str:
        return multi_host_dsn(self.nodes, DATABASE)

    def node_dsn(self, node: Node, database: str = "postgres") -> str:
        return (f"postgresql://{USER}@{node.host}:{node.pg_port}/{database}"
                "?connect_timeout=2")

    def connect(self, node: Node, database: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(self.node_dsn(node, database), autocommit=True)

    def writable(self, node: Node) -> bool:
        with self.connect(node) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            return row is not None and row[0] is False

    def primaries(self) -> list[Node]:
        out = []
        for node in self.nodes:
            try:
                if self.writable(node):
                    out.append(node)
            except Exception:  # down or starting: not a primary
                continue
        return out

    def primary(self) -> Node:
        found = self.primaries()
        if len(found) != 1:
            raise ClusterError(f"{len(found)} writable nodes")
        return found[0]

    def standby_of(self, primary: Node) -> Node:
        return next(n for n in self.nodes if n is not primary)

    def sync_standbys(self, primary: Node) -> list[str]:
        """Names of the standbys the primary replicates to synchronously (its
        `pg_stat_replication`), the one health figure that matters for durability."""
        with self.connect(primary) as conn:
            rows = conn.execute("SELECT application_name FROM pg_stat_replication "
                                "WHERE sync_state = 'sync' AND state = 'streaming'").fetchall()
            return [r[0] for r in rows]

    def wait_primary(self, timeout: float, not_node: Node | None = None) -> Node:
        def one() -> Node | None:
            found = self.primaries()
            if len(found) == 1 and found[0] is not not_node:
                return found[0]
            return None

        return _wait(one, timeout, "one writable primary"
                     + (f" other than {not_node.name}" if not_node else ""))

    def patroni_roles(self, node: Node) -> dict[str, str]:
        """Member name -> role as the node's Patroni daemon publishes them (REST API)."""
        import json
        import urllib.request

        url = f"http://{node.host}:{node.api_port}/cluster"
        with urllib.request.urlopen(url, timeout=2) as answer:
            return {m["name"]: m["role"] for m in json.load(answer)["members"]}

    def wait_writable(self, node: Node, timeout: float) -> Node:
        """Until `node` takes writes (after a promotion), whatever the others say."""
        return _wait(lambda: node if self.writable(node) else None, timeout,
                     f"{node.name} to be writable")

    def wait_healthy(self, timeout: float) -> Node:
        """One writable primary whose other node streams to it synchronously (from
        PostgreSQL's `pg_stat_replication`), and Patroni has recorded that standby as the
        synchronous one (without that it would not promote it)."""
        def healthy() -> Node | None:
            found = self.primaries()
            if len(found) != 1:
                return None
            other = self.standby_of(found[0])
            if self.sync_standbys(found[0]) != [other.name]:
                return None
            roles = self.patroni_roles(found[0])
            if roles.get(other.name) != "sync_standby" or not self.daemon_alive(other):
                return None
            return found[0]

        return _wait(healthy, timeout, "a primary with a synchronous standby", interval=0.2)

    # -- faults --------------------------------------------------------------------------

    def _postgres_pids(self, node: Node) -> list[int]:
        """The node's postmaster and every process under it."""
        try:
            first = (node.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            postmaster = int(first)
        except (OSError, ValueError):
            return []
        return [postmaster, *_descendants(postmaster)] if _alive(postmaster) else []

    def kill_postgres(self, node: Node) -> None:
        """SIGKILL the postmaster and everything under it. The postmaster is stopped
        first, so that it forks nothing between the listing and the kill."""
        pids = self._postgres_pids(node)
        if pids:
            _kill(pids[0], signal.SIGSTOP)
            for pid in self._postgres_pids(node):
                _kill(pid, signal.SIGKILL)

    def kill_patroni(self, node: Node) -> None:
        proc = self._patroni[node.name]
        proc.kill()
        proc.wait()

    def kill_node(self, node: Node) -> None:
        """Patroni and PostgreSQL of `node` at once, as a host losing power."""
        pids = self._postgres_pids(node)
        if pids:
            _kill(pids[0], signal.SIGSTOP)  # it forks nothing more
        self._patroni[node.name].kill()
        for pid in self._postgres_pids(node):
            _kill(pid, signal.SIGKILL)
        self._patroni[node.name].wait()

    def daemon_alive(self, node: Node) -> bool:
        proc = self._patroni.get(node.name)
        return proc is not None and proc.poll() is None


    def fail_primary(self, kind: str, timeout: float = 120) -> dict[str, float]:
        """Kill the primary `kind`-wise ("postgres", "node" or "patroni") and bring the
        killed part back as its supervisor would; return once the other node is the
        primary and the old one its synchronous standby. The times: `promote_s` from the
        kill until the other node takes writes, `rejoin_s` until the old one is the
        synchronous standby again."""
        old = self.wait_healthy(timeout)
        new = self.standby_of(old)
        started = time.monotonic()
        if kind == "postgres":
            self.kill_postgres(old)  # Patroni stays and fails over at once
        elif kind == "node":
            self.kill_node(old)
        elif kind == "patroni":
            # PostgreSQL on the old node still runs as a primary, but its commits wait for
            # a synchronous standby that has left: none is acknowledged. Its Patroni,
            # back, demotes it.
            self.kill_patroni(old)
        else:
            raise ValueError(f"unknown kind of kill {kind!r}")
        self.wait_writable(new, timeout)
        promoted = time.monotonic()
        if kind != "postgres":
            self.start_node(old)  # the host, or systemd, brings the daemon back
        if self.wait_healthy(timeout) is not new or self.writable(old):
            raise ClusterError(f"{old.name} did not come back as the standby")
        return {"promote_s": promoted - started, "rejoin_s": time.monotonic() - promoted}


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _descendants(pid: int) -> list[int]:
    """Every process under `pid` (from /proc: each process's parent)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent:
                found.append(child)
                todo.append(child)
    return found
