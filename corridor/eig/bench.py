"""`corridor bench eig`: partner calls per second through EIG into the real TXN (durable),
with mutual-TLS clients on kept-alive connections, against a minimal endpoint on the same
server stack measured in the same run. Prints one JSON object.

A transfer counts once TXN has durably accepted it (committed, funds reserved) and EIG has
relayed the answer: the gateway's figure. By default TXN holds payouts meanwhile (`serve
txn --hold-payouts`), so that the payout worker and sender callbacks, which `corridor bench
e2e` measures, do not compete for TXN's core; `--pay-out` runs them too.

256 calls are in flight by default, as a hub serving several send partners sees (`bench
e2e` keeps 512 in flight). Group commit shares each fsync, and EIG's batches to TXN share
each exchange, among the calls in flight, so the rates depend on that number: with 32 the
transfer rate is about two thirds of what it is with 256, while hello's rises. The hello
phase always runs at the same concurrency as the others.

The phases take turns (hello, quotes, transfers, three rounds by default) and each rate is
taken over all its rounds: a shared machine's speed drifts by a third and more within a
minute, and hello measured only at the start would set the ratio by a different machine
than the transfers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from corridor.clikit import bench_site_option
from corridor.httppool import Pool
from corridor.ports import free_port
from corridor.site import copy_site

QUOTE = json.dumps({"send_currency": "INR", "receive_currency": "KES",
                    "destination_country": "KE", "payout_method": "wallet",
                    "send_amount": "1000.00"}).encode()


def _transfer(quote_id: str, i: int, round_: int) -> bytes:
    return json.dumps({
        "quote_id": quote_id, "reference": f"eig-bench-{round_}-{i}",
        "sender": {"name": "Asha Rao", "account": f"AC{i}", "address": "Mumbai",
                   "id_type": "passport", "id_number": f"P{i:08d}"},
        "beneficiary": {"name": "John Kamau", "account": f"2547{i:08d}",
                        "phone": "+254700000001"},
        "purpose": "family_support", "source_of_funds": "salary"}).encode()


def _wait_port(port: int, proc: subprocess.Popen[bytes], deadline_s: float = 20) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise click.ClickException(f"a server exited early (code {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise click.ClickException(f"nothing listens on port {port}")


async def _warm(pool: Pool, headers: dict[str, str], concurrency: int) -> None:
    """Open the pool's `concurrency` connections (each a full mutual-TLS handshake) before
    anything is timed: the phases measure calls on kept-alive connections."""
    await asyncio.gather(*(pool.request("GET", "/v1/hello", headers)
                           for _ in range(concurrency)))


@dataclass
class Tally:
    """One kind of call over every round: successes, failures, time and latencies, and the
    CPU seconds each process spent meanwhile."""

    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)

    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def cpu_us_per_call(self, process: str) -> float:
        return round(self.cpu_s.get(process, 0.0) / max(1, self.ok) * 1e6, 1)


async def _phase(pool: Pool, target: str, headers: dict[str, str], concurrency: int,
                 bodies: list[bytes] | None, seconds: float, method: str, keys: str,
                 tally: Tally) -> list[bytes]:
    """Drive one call from `concurrency` callers for `seconds`, each on a kept-alive
    connection of `pool`, into `tally`; the bodies of the successful answers."""
    answers: list[bytes] = []
    counter = 0
    end = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal counter
        while time.perf_counter() < end:
            i = counter
            counter += 1
            if bodies is not None and i >= len(bodies):
                return  # each quote makes one transfer; the phase ends with them
            h = headers
            data = None
            if method == "POST":
                h = {**headers, "Idempotency-Key": f"{keys}-{i}"}
                data = bodies[i] if bodies is not None else QUOTE
            t0 = time.perf_counter()
            resp = await pool.request(method, target, h, data)
            tally.latencies.append(time.perf_counter() - t0)
            if resp.status >= 300:
                tally.errors += 1
                if tally.errors == 1:
                    print(f"first error: {resp.status} {resp.body[:300]!r}", file=sys.stderr)
            else:
                tally.ok += 1
                answers.append(resp.body)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    tally.seconds += time.perf_counter() - start
    return answers


def _cpu_s(pid: int) -> float:
    """CPU seconds (user and system) used so far by process `pid` and its children that
    are still running (EIG's workers), from /proc; 0 where there is no /proc."""
    total = 0.0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for one in (pid, *map(int, children)):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@click.command()
@bench_site_option
@click.option("--seconds", default=6.0, show_default=True,
              help="Time given to each call (hello, quote, transfer), over all rounds.")
@click.option("--rounds", type=click.IntRange(1, 20), default=3, show_default=True,
              help="The three phases take turns this many times.")
@click.option("--concurrency", default=256, show_default=True,
              help="Calls in flight, each on its own kept-alive connection.")
@click.option("--workers", type=click.IntRange(1, 8), default=1, show_default=True,
              help="EIG processes sharing the port (SO_REUSEPORT).")
@click.option("--pay-out", is_flag=True,
              help="Let TXN pay out and deliver sender callbacks during the run.")
@click.option("--keep", is_flag=True, help="Keep the scratch site and logs.")
def bench(site_dir: Path, seconds: float, rounds: int, concurrency: int, workers: int,
          pay_out: bool, keep: bool) -> None:
    """quotes_per_s, transfers_per_s, p50_ms, p99_ms (transfers), hello_per_s, ratio."""
    import uvloop

    from corridor.pki.bootstrap import demo_keys
    from corridor.pki.layout import Layout
    from corridor.pki.tls import client_context

    scratch = Path(tempfile.mkdtemp(prefix="corridor-eig-bench-"))
    site = copy_site(scratch / "site", site_dir)
    data = scratch / "var"
    exe = [sys.executable, "-m", "corridor"]
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run([*exe, "pki", "bootstrap", "--site", str(site)], check=True, **quiet)
    subprocess.run([*exe, "store", "init", "--site", str(site), "--data", str(data)],
                   check=True, **quiet)
    subprocess.run([*exe, "ledger", "fund", "payfast", "1000000000000.00", "--reference",
                    "eig-bench", "--site", str(site), "--data", str(data)], check=True, **quiet)
    txn_port, eig_port, int_port, cb_port = free_port(), free_port(), free_port(), free_port()
    # PayFast's callback server runs too, so that TXN delivers its sender callbacks as in
    # production (to a live partner) rather than retrying a dead address.
    payfast = site / "partners" / "payfast.yaml"
    payfast.write_text(re.sub(r"(?m)^callback_url: .*$",
                              f"callback_url: https://127.0.0.1:{cb_port}/corridor/callbacks",
                              payfast.read_text()))
    logs = [open(scratch / f"{n}.log", "wb") for n in ("txn", "eig", "cb")]  # noqa: SIM115
    # Payouts go to the in-process receive partner (as in the demo and the tests): the
    # bench has no partner servers, and a connector retrying a dead address would bench
    # TXN's retry loop, not the partner calls.
    env = {**os.environ, "CORRIDOR_CONNECTOR": "in-process",
           "CORRIDOR_TXN_HOLD_PAYOUTS": "" if pay_out else "1", "CORRIDOR_TXN_WORKERS": "0"}
    procs = [subprocess.Popen([*exe, "sim", "send-partner", "--site", str(site),
                               "serve-callbacks"], stderr=logs[2], stdout=logs[2]),
             subprocess.Popen([*exe, "serve", "txn", "--site", str(site), "--data", str(data),
                               "--listen", f"127.0.0.1:{txn_port}"], stderr=logs[0],
                              stdout=logs[0], env=env)]
    try:
        _wait_port(cb_port, procs[0])
        _wait_port(txn_port, procs[1])
        procs.append(subprocess.Popen(
            [*exe, "serve", "eig", "--site", str(site), "--data", str(data), "--port",
             str(eig_port), "--internal-port", str(int_port), "--txn-url",
             f"https://127.0.0.1:{txn_port}", "--rate", "1000000", "--burst", "1000000",
             "--hello", "--workers", str(workers)], stderr=logs[1], stdout=logs[1]))
        _wait_port(eig_port, procs[2])
        layout = Layout(site)
        ctx = client_context(layout.hub_ca[0], *layout.partner("payfast"))
        headers = {"Authorization": f"Bearer {demo_keys(layout)['payfast']}",
                   "Content-Type": "application/json"}
        base = f"https://127.0.0.1:{eig_port}"

        servers = {"eig": procs[2].pid, "txn": procs[1].pid}
        tallies = {name: Tally() for name in ("hello", "quote", "transfer")}

        async def measured(name: str, target: str, bodies: list[bytes] | None, method: str,
                           keys: str, pool: Pool) -> list[bytes]:
            """A phase, and the CPU each process spent in it: per successful call, a
            figure that other load on the machine disturbs less than the rates."""
            tally = tallies[name]
            before = {k: _cpu_s(pid) for k, pid in servers.items()}
            client_before = time.process_time()
            answers = await _phase(pool, target, headers, concurrency, bodies,
                                   seconds / rounds, method, keys, tally)
            spent = {k: _cpu_s(pid) - before[k] for k, pid in servers.items()}
            spent["client"] = time.process_time() - client_before
            for k, v in spent.items():
                tally.cpu_s[k] = tally.cpu_s.get(k, 0.0) + v
            return answers

        async def run() -> dict[str, object]:
            # The client is the lean pool PayFast's simulator sends with, not aiohttp's
            # client: the phases run on the same two cores as the servers, and a heavier
            # client would take from the servers' share what it spends per call.
            pool = Pool(base, ctx, size=concurrency, timeout=None)
            try:
                await _warm(pool, headers, concurrency)
                for r in range(rounds):
                    await measured("hello", "/v1/hello", None, "GET", f"h{r}", pool)
                    answers = await measured("quote", "/v1/quotes", None, "POST", f"q{r}",
                                             pool)
                    # A quote is good for one transfer: the transfer phase uses each once.
                    bodies = [_transfer(json.loads(a)["id"], i, r) for i, a in enumerate(answers)]
                    await measured("transfer", "/v1/transfers", bodies, "POST", f"t{r}", pool)
            finally:
                pool.close()
            hello, quotes, transfers = (tallies[n] for n in ("hello", "quote", "transfer"))
            lat = sorted(transfers.latencies)
            cpu = {f"{k}_cpu_us_per_{name}": tally.cpu_us_per_call(k)
                   for name, tally in tallies.items() for k in ("client", *servers)
                   if not (k == "txn" and name == "hello")}
            return {
                "quotes_per_s": round(quotes.rate(), 1),
                "transfers_per_s": round(transfers.rate(), 1),
                "p50_ms": round(statistics.median(lat) * 1000, 2),
                "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 2),
                "hello_per_s": round(hello.rate(), 1),
                "ratio": round(transfers.rate() / hello.rate(), 3) if hello.ok else 0.0,
                "errors": sum(t.errors for t in tallies.values()),
                **cpu,
                "concurrency": concurrency,
                "rounds": rounds,
                "eig_workers": workers,
                "txn_connector": "in-process",
                "txn_payouts": "paid out during the run" if pay_out else
                               "held (accepted transfers wait in the outbox)",
                "sender_callbacks": "delivered to PayFast's callback server",
                "seconds_per_call": seconds,
                "store": "sqlite (durable, group commit)",
            }

        result = uvloop.run(run())
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    click.echo(json.dumps(result))
    sys.stdout.flush()
