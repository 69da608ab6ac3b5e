"""`corridor vpn ...`, `corridor firewall ...` and `corridor capture`: the perimeter
generated from the site, and a look at one partner's packets through it.

Every command validates before it touches anything live; `apply` logs who changed what
and when to DATA/net/apply.log; `--netns` runs nft (or tcpdump) inside a network namespace
and `--ctlsocket` picks the pluto to talk to, so nothing here needs the host's own.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from corridor.clikit import data_option, fail, friendly_errors, open_site, site_option
from corridor.net import applylog, libreswan, nft, status, tcpdump, vpnfiles
from corridor.net import firewall as rules
from corridor.net.capture import Side, capture_filter
from corridor.net.errors import NetError
from corridor.net.perimeter import DEFAULT_IPSEC_DIR
from corridor.net.pluto import DEFAULT_CTL, Pluto
from corridor.site.model import Site

out_option = click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_IPSEC_DIR,
    show_default=True, help="Directory of the Libreswan conn and secrets files.")
cert_option = click.option(
    "--hub-cert", default=None, help="NSS nickname of the hub's certificate [default: hub id].")
ctl_option = click.option(
    "--ctlsocket", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_CTL,
    show_default=True, help="pluto's control socket.")
netns_option = click.option(
    "--netns", default=None, help="Run nft inside this network namespace.")


# ---------------------------------------------------------------- vpn


@click.group()
def vpn() -> None:
    """Partner IPsec tunnels (Libreswan): render, check, apply, kit, status, monitor."""


def _tunnelled(site: Site) -> list[str]:
    return sorted(p.id for p in site.partners.values() if p.tunnel and not p.disabled)


def _hub_files(site: Site, hub_cert: str | None) -> dict[str, libreswan.ConfFile]:
    return libreswan.hub_files(site, hub_cert or site.hub.id)


@vpn.command("render")
@site_option
@out_option
@cert_option
@friendly_errors
def vpn_render(site_dir: Path, out: Path, hub_cert: str | None) -> None:
    """Write one conn file (and, for PSK, a 0600 secrets file) per partner tunnel."""
    site = open_site(site_dir)
    files = _hub_files(site, hub_cert)
    vpnfiles.write_files(files, out)
    for name in files:
        click.echo(out / name)


@vpn.command("check")
@site_option
@cert_option
@friendly_errors
def vpn_check(site_dir: Path, hub_cert: str | None) -> None:
    """Run Libreswan's own checks on the generated conns; complaints name the partner file."""
    site = open_site(site_dir)
    problems = vpnfiles.check(site, _hub_files(site, hub_cert))
    for line in problems:
        click.echo(f"{site_dir}/{line}", err=True)
    if problems:
        sys.exit(2)
    click.echo(f"{len(_tunnelled(site))} tunnel(s): ok")


@vpn.command("apply")
@site_option
@data_option
@out_option
@cert_option
@ctl_option
@friendly_errors
def vpn_apply(site_dir: Path, data_dir: Path, out: Path, hub_cert: str | None,
              ctlsocket: Path) -> None:
    """Write the changed files atomically and replace only the changed connections."""
    site = open_site(site_dir)
    files = _hub_files(site, hub_cert)
    pluto = Pluto(ctlsocket)
    try:
        plan = vpnfiles.apply(site, files, out, pluto)
    except NetError as exc:
        applylog.record(data_dir, "vpn", str(out), [], ok=False, error=exc.detail)
        raise
    if not plan.changed:
        click.echo("no change")
        return
    applylog.record(data_dir, "vpn", str(out), plan.changed, ok=True)
    for name in plan.changed:
        click.echo(name)
    if not pluto.running():
        click.echo(f"pluto is not running ({ctlsocket}): files written, nothing loaded",
                   err=True)


@vpn.command("kit")
@site_option
@click.argument("partner_id")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write the partner's kit into.")
@click.option("--with-psk", is_flag=True,
              help="Include the PSK (0600); otherwise share it out of band.")
@friendly_errors
def vpn_kit(site_dir: Path, partner_id: str, out: Path, with_psk: bool) -> None:
    """Export the partner's end of the tunnel: their conn, subnets, our IP, ID, proposals."""
    site = open_site(site_dir)
    partner = site.partner(partner_id)
    if partner is None:
        fail(f"no partner {partner_id!r} in {site_dir}")
        return
    files = libreswan.kit_files(site, partner, with_psk)
    vpnfiles.write_files(files, out)
    summary = libreswan.kit_summary(site, partner)
    (out / "kit.json").write_text(json.dumps(summary, indent=2) + "\n")
    click.echo(json.dumps(summary, indent=2))


@vpn.command("status")
@site_option
@ctl_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per tunnel.")
@friendly_errors
def vpn_status(site_dir: Path, ctlsocket: Path, as_json: bool) -> None:
    """Per partner: configured against up (IKE SA, IPsec SA, bytes, since when)."""
    site = open_site(site_dir)
    pluto = Pluto(ctlsocket)
    text = pluto.status() if pluto.running() else ""
    tunnels = status.parse(text, _tunnelled(site))
    if as_json:
        for t in tunnels.values():
            click.echo(json.dumps(t.as_dict(), sort_keys=True))
        return
    if not pluto.running():
        click.echo(f"pluto is not running ({ctlsocket}): every tunnel is down", err=True)
    click.echo(f"{'partner':<14} {'IKE SA':<8} {'IPsec SA':<9} {'in':>10} {'out':>10} "
               f"{'since':<21} state")
    for t in tunnels.values():
        since = _since(t)
        click.echo(f"{t.name:<14} {_sa(t.ike_sa):<8} {_sa(t.ipsec_sa):<9} {t.bytes_in:>10} "
                   f"{t.bytes_out:>10} {since:<21} {t.label}")


def _sa(serial: int | None) -> str:
    return f"#{serial}" if serial is not None else "-"


def _since(t: status.TunnelStatus) -> str:
    if t.ipsec_since is not None:
        stamp = t.ipsec_since
    elif t.ike_age_s is not None:
        stamp = int(time.time()) - t.ike_age_s
    else:
        return "-"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@vpn.command("monitor")
@site_option
@data_option
@ctl_option
@click.option("--interval", type=float, default=10.0, show_default=True, help="Seconds.")
@click.option("--window", type=float, default=86400.0, show_default=True,
              help="Uptime window in seconds.")
@click.option("--metrics", default="127.0.0.1:9108", show_default=True,
              help="HOST:PORT to serve Prometheus metrics on ('' for none).")
@click.option("--alert-cmd", default=None,
              help="Run when a tunnel stays down; gets CORRIDOR_PARTNER and "
                   "CORRIDOR_TUNNEL_STATE in its environment.")
@click.option("--alert-after", type=float, default=60.0, show_default=True,
              help="Seconds a tunnel must stay down before the alert runs.")
@click.option("--count", type=int, default=0, help="Stop after this many samples (0: never).")
@friendly_errors
def vpn_monitor(site_dir: Path, data_dir: Path, ctlsocket: Path, interval: float,
                window: float, metrics: str, alert_cmd: str | None, alert_after: float,
                count: int) -> None:
    """Sample pluto, log transitions, serve metrics and alert on tunnels that stay down."""
    from prometheus_client import CollectorRegistry, start_http_server

    from corridor.net.monitor import Monitor, TunnelCollector

    site = open_site(site_dir)
    configured = _tunnelled(site)
    pluto = Pluto(ctlsocket)

    def sample() -> dict[str, status.TunnelStatus]:
        return status.parse(pluto.status() if pluto.running() else "", configured)

    log = data_dir / "net" / "tunnels.log"
    mon = Monitor(sample, log, window, alert_cmd, alert_after)
    if metrics:
        host, _, port = metrics.rpartition(":")
        registry = CollectorRegistry()
        registry.register(TunnelCollector(mon))
        start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    taken = 0
    while True:
        started = time.monotonic()
        for event in mon.tick():
            click.echo(json.dumps(event, sort_keys=True))
        taken += 1
        if count and taken >= count:
            return
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


# ---------------------------------------------------------------- firewall


@click.group("firewall")
def firewall_group() -> None:
    """The nftables allowlist (table inet corridor): render, check, apply, diff, show."""




def _script(site_dir: Path) -> tuple[Site, str]:
    site = open_site(site_dir)
    return site, rules.render(rules.allowlist(site))


@firewall_group.command("render")
@site_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the nft script here instead of stdout.")
def fw_render(site_dir: Path, out: Path | None) -> None:
    """Print the nft script that replaces Corridor's table."""
    _, script = _script(site_dir)
    if out is None:
        click.echo(script, nl=False)
    else:
        out.write_text(script)


@firewall_group.command("check")
@site_option
@netns_option
@friendly_errors
def fw_check(site_dir: Path, netns: str | None) -> None:
    """Validate the ruleset with `nft -c` (nothing is committed)."""
    site, script = _script(site_dir)
    nft.check(script, netns)
    click.echo(f"{rules.allowlist(site).cidrs} CIDR(s) of {len(site.partners)} partner(s): ok")


@firewall_group.command("apply")
@site_option
@data_option
@netns_option
@friendly_errors
def fw_apply(site_dir: Path, data_dir: Path, netns: str | None) -> None:
    """Replace Corridor's table in one transaction; other tables are left alone."""
    _, script = _script(site_dir)
    target = f"netns {netns}" if netns else "host"
    before = nft.drift(script, netns)
    if before.clean:
        click.echo("no change")
        return
    changed = before.summary()
    try:
        nft.apply(script, netns)
    except NetError as exc:
        applylog.record(data_dir, "firewall", target, changed, ok=False, error=exc.detail)
        raise
    applylog.record(data_dir, "firewall", target, changed, ok=True)
    for line in changed:
        click.echo(line)


@firewall_group.command("diff")
@site_option
@netns_option
@friendly_errors
def fw_diff(site_dir: Path, netns: str | None) -> None:
    """Show drift between the live table and the site; exit 1 when there is any."""
    _, script = _script(site_dir)
    d = nft.drift(script, netns)
    if d.clean:
        click.echo("no drift")
        return
    if d.absent:
        click.echo("table inet corridor is not loaded")
    for name, items in d.missing.items():
        for item in items:
            click.echo(f"- {name} {item}  (in the site, not live)")
    for name, items in d.extra.items():
        for item in items:
            click.echo(f"+ {name} {item}  (live, not in the site)")
    for line in d.rules:
        click.echo(line)
    sys.exit(1)


@firewall_group.command("show")
@netns_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per counter.")
@friendly_errors
def fw_show(netns: str | None, as_json: bool) -> None:
    """Packet and byte counters per partner, peer, jump and drop rule."""
    rows = nft.counters(netns)
    for c in rows:
        if as_json:
            click.echo(json.dumps({"rule": c.rule, "packets": c.packets, "bytes": c.bytes}))
        else:
            click.echo(f"{c.rule:<24} {c.packets:>12} packets {c.bytes:>14} bytes")


@firewall_group.command("metrics")
@netns_option
@click.option("--listen", default="127.0.0.1:9109", show_default=True,
              help="HOST:PORT to serve Prometheus /metrics on.")
@click.option("--once", is_flag=True,
              help="Print the metrics once and exit (for node_exporter's textfile collector).")
@friendly_errors
def fw_metrics(netns: str | None, listen: str, once: bool) -> None:
    """Serve the table's counters, and what it drops per source, as Prometheus metrics."""
    from prometheus_client import CollectorRegistry, generate_latest, start_http_server

    from corridor.net.fwmetrics import FirewallCollector

    registry = CollectorRegistry()
    registry.register(FirewallCollector(netns))
    if once:
        click.echo(generate_latest(registry).decode(), nl=False)
        return
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        fail(f"--listen {listen!r} is not HOST:PORT")
    try:
        start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    except OSError as exc:
        fail(f"cannot serve metrics on {listen}: {exc.strerror}")
    click.echo(f"firewall metrics on http://{host or '127.0.0.1'}:{port}/metrics")
    while True:
        time.sleep(3600)


# corridor/cli.py looks the group up as `firewall`.
firewall = firewall_group


# ---------------------------------------------------------------- capture


@click.command("capture")
@site_option
@data_option
@click.argument("partner_id")
@click.option("--outer", "side", flag_value="outer",
              help="The tunnel: IKE, NAT-T and ESP with the partner's peer address.")
@click.option("--inner", "side", flag_value="inner", default=True,
              help="Inside it: the partner's allowlist to and from EIG's port, payouts to "
                   "its endpoint, callbacks to its callback URL [default].")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop after this long [default: at Ctrl-C].")
@click.option("--write", "write_to", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="The pcap file [default: DATA/captures/PARTNER-SIDE-UTC.pcap].")
@click.option("--interface", default="any", show_default=True, help="Where to capture.")
@click.option("--netns", default=None, help="Capture inside this network namespace.")
@click.option("--json", "as_json", is_flag=True, help="The summary as one JSON object.")
@friendly_errors
def capture(site_dir: Path, data_dir: Path, partner_id: str, side: Side,
            seconds: float | None, write_to: Path | None, interface: str, netns: str | None,
            as_json: bool) -> None:
    """Capture one partner's packets with tcpdump into a pcap (0600), then summarise them:
    packets, bytes, TCP resets, TLS alerts, IKE and ESP.

    TLS alerts are those seen on the wire: TLS 1.3 encrypts the ones after its ServerHello
    (a refused client certificate among them)."""
    from corridor.net.pcapsummary import PcapUnreadable, summarise

    site = open_site(site_dir)
    partner = site.partner(partner_id)
    if partner is None:
        fail(f"no partner {partner_id!r} in {site_dir}/partners")
        return
    chosen = capture_filter(site, partner, side)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = write_to or data_dir / "captures" / f"{partner.id}-{side}-{stamp}.pcap"
    where = f"{interface} in netns {netns}" if netns else interface

    def listening(line: str) -> None:  # said once tcpdump captures, so a refusal is one line
        click.echo(f"capturing {partner.id} ({side}) on {where} into {out}:", err=True)
        for term in chosen.terms:
            click.echo(f"  {term.what}: {term.bpf}", err=True)
        click.echo(line, err=True)

    run = tcpdump.capture(chosen.expression, out, interface=interface, netns=netns,
                          seconds=seconds, on_listening=listening)
    try:
        summary = summarise(run.file)
    except PcapUnreadable as exc:
        fail(str(exc))
        return
    report = {"partner": partner.id, "side": side, "file": str(run.file),
              "filter": chosen.expression, "seconds": round(run.seconds, 3),
              **summary.as_dict(), "dropped_by_kernel": run.dropped_by_kernel}
    if as_json:
        click.echo(json.dumps(report))
        return
    for key in ("packets", "bytes", "tcp_resets", "tls_alerts", "ike", "esp",
                "dropped_by_kernel", "seconds", "file"):
        value = report[key]
        click.echo(f"{key.replace('_', ' '):<18} {'-' if value is None else value}")
