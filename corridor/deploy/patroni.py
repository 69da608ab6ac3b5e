"""A Patroni node's configuration: two PostgreSQL 15 nodes with a synchronous standby,
etcd (v3 API) as Patroni's store. The same settings serve a production pair and the
local cluster the HA tests and `corridor bench ha` start (`corridor.deploy.hacluster`).

Why these values (measured on a 2-core machine, docs/scaling.md):
- Patroni 4.1 (PyPI, pinned in pyproject.toml), not Debian's 3.0.2: a restarted 3.0.x
  daemon rewrites postgresql.conf without `synchronous_standby_names`, so replication
  turns asynchronous while `patronictl list` still says "Sync Standby", and the next
  failover loses acknowledged commits. 4.1 refuses a `ttl` below 20 s, so a crashed node
  is replaced after about 20 s instead of 5: slower, never wrong.
- `synchronous_mode`: a commit is acknowledged only once the standby has it, and only the
  synchronous standby may be promoted.
- `primary_start_timeout: 0`: a crashed primary postmaster fails over at once instead of
  being restarted in place (crash recovery on a busy node takes longer than a promotion).
- `use_pg_rewind` with `wal_log_hints`: the old primary comes back as a standby without a
  new base backup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN_DIR = Path("/usr/lib/postgresql/15/bin")
TTL_S = 20  # the least Patroni 4.1 accepts
LOOP_WAIT_S = 1
RETRY_TIMEOUT_S = 5


@dataclass(frozen=True, slots=True)
class Node:
    """One PostgreSQL node of the pair, as Patroni sees it."""

    name: str
    host: str
    pg_port: int
    api_port: int
    data_dir: Path
    socket_dir: Path


def dcs_settings() -> dict[str, Any]:
    """The cluster-wide settings Patroni writes into etcd when it bootstraps."""
    return {
        "ttl": TTL_S,
        "loop_wait": LOOP_WAIT_S,
        "retry_timeout": RETRY_TIMEOUT_S,
        "maximum_lag_on_failover": 1 << 20,
        "synchronous_mode": True,
        "primary_start_timeout": 0,
        "postgresql": {
            "use_pg_rewind": True,
            "use_slots": True,
            "parameters": {
                "wal_log_hints": "on",
                # After a crash (a killed node, or Patroni's immediate demotion) PostgreSQL
                # syncs the data directory before recovery: one syncfs() of the file
                # system instead of an fsync per file, seconds less before a rejoin.
                "recovery_init_sync_method": "syncfs",
                "wal_level": "replica",
                "hot_standby": "on",
                "max_wal_senders": 10,
                "max_replication_slots": 10,
                "wal_keep_size": "128MB",
                "max_connections": 100,
            },
        },
    }


def node_config(scope: str, node: Node, etcd_hosts: list[str], *,
                local_parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """Patroni's YAML for `node` (as a dict). Authentication is `trust` on loopback for the
    local cluster; a production pair puts scram-sha-256 lines and passwords here."""
    address = f"{node.host}:{node.pg_port}"
    hba = [
        "local all all trust",
        f"host all all {node.host}/32 trust",
        f"host replication replicator {node.host}/32 trust",
    ]
    return {
        "scope": scope,
        "namespace": "/corridor/",
        "name": node.name,
        "restapi": {"listen": f"{node.host}:{node.api_port}",
                    "connect_address": f"{node.host}:{node.api_port}"},
        "etcd3": {"hosts": etcd_hosts},
        "bootstrap": {
            "dcs": dcs_settings(),
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
            "pg_hba": hba,
        },
        "postgresql": {
            "listen": address,
            "connect_address": address,
            "data_dir": str(node.data_dir),
            "bin_dir": str(BIN_DIR),
            "pgpass": str(node.data_dir.parent / "pgpass"),
            "authentication": {
                "superuser": {"username": "postgres"},
                "replication": {"username": "replicator"},
                "rewind": {"username": "postgres"},
            },
            "parameters": {"unix_socket_directories": str(node.socket_dir),
                           **(local_parameters or {})},
            "pg_hba": hba,
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
    }


def multi_host_dsn(nodes: list[Node], database: str, user: str = "postgres") -> str:
    """libpq's multi-host DSN for TXN: every node, and only a writable one will do, so
    after a failover a new connection finds the promoted standby by itself."""
    hosts = ",".join(f"{n.host}:{n.pg_port}" for n in nodes)
    return (f"postgresql://{user}@{hosts}/{database}?target_session_attrs=read-write"
            "&connect_timeout=2&keepalives=1&keepalives_idle=2&keepalives_interval=1"
            "&keepalives_count=3&tcp_user_timeout=5000")
