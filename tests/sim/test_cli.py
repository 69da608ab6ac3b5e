"""The simulators as commands: one line of error and a non-zero exit for bad input, and a
child process that becomes ready on /sim/health and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from corridor.sim.cli import sim
from corridor.sim.process import spawn_receive_partner, spawn_send_callbacks
from corridor.site import Site
from tests.support import free_port


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(sim, list(args))
    return result.exit_code, result.output


def test_bad_requests_get_one_line_errors(pki_site: tuple[Site, dict[str, str]],
                                          tmp_path: Path) -> None:
    site = str(pki_site[0].root)
    code, out = run("receive-partner", "--site", site, "--partner", "payfast")
    assert code == 1 and out.strip() == "error: partner 'payfast' does not receive (role: send)"
    code, out = run("receive-partner", "--site", site, "--partner", "nobody")
    assert code == 1 and out.startswith("error: no partner 'nobody'")
    code, out = run("receive-partner", "--site", site)  # no demo keys, no --api-key-file
    assert code == 1 and "no API key for mobicash" in out and "Traceback" not in out
    code, out = run("receive-partner", "--site", site, "--listen", "nowhere")
    assert code == 2 and "is not HOST:PORT" in out
    code, out = run("receive-partner", "--site", str(tmp_path / "missing"))
    assert code == 2 and "hub.yaml" in out


def test_subprocesses_become_ready_and_stop(pki_site: tuple[Site, dict[str, str]],
                                            tmp_path: Path) -> None:
    site, keys = pki_site
    key_file = tmp_path / "mobicash.key"
    key_file.write_text(keys["mobicash"])
    key_file.chmod(0o600)
    receive = spawn_receive_partner(site, port=free_port(), log=tmp_path / "receive.log",
                                    extra=["--api-key-file", str(key_file), "--latency-ms", "5"])
    callbacks = spawn_send_callbacks(site, port=free_port(), log=tmp_path / "callbacks.log")
    with receive, callbacks:
        receive.wait_ready(20)
        callbacks.wait_ready(20)
        assert receive.healthy() and callbacks.healthy()
    assert receive.process.returncode == 0 and callbacks.process.returncode == 0
    assert not receive.healthy()


def test_bench_prints_one_json_object(pki_site: tuple[Site, dict[str, str]]) -> None:
    code, out = run("bench", "--site", str(pki_site[0].root), "--count", "40",
                    "--concurrency", "4")
    assert code == 0, out
    result = json.loads(out)
    assert result["answers"] == {"201": 40} and result["callbacks_acknowledged"] == 40
