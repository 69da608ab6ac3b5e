"""`corridor partner onboard`: a new partner in one step, all or nothing.

On a staged copy of the site (`corridor.site.staging`): the partner file (through
`corridor.site.edit`), its API key (only the hash is kept), callback secret and tunnel PSK
(generated, or the one agreed with the partner), and its client certificate from the partner
CA (from its CSR, or with a key pair the hub makes for a test partner). The copy must then
load without a fault, and Libreswan and nftables must accept the tunnels and the allowlist
it renders; the kit is written from it. Only then is the real site changed, and the kit put
in place; a refusal at any step leaves the site byte for byte as it was and no kit.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from corridor.net import perimeter
from corridor.partners.errors import PartnerChangeRefused
from corridor.partners.kit import write_archive, write_kit
from corridor.partners.log import PartnerLog
from corridor.partners.spec import PartnerSpec, api_key_ref, callback_secret_ref, psk_ref
from corridor.pki.authority import LEAF_DAYS, PkiError, issue_partner
from corridor.pki.credentials import new_api_key, write_api_key_hash, write_hmac_secret, write_psk
from corridor.pki.files import write_secret
from corridor.pki.issue import Issued, csr_subject, fingerprint, same_name, subject_name
from corridor.site.edit import SiteEdit, partner_document
from corridor.site.loader import load_site
from corridor.site.model import Site
from corridor.site.staging import SiteTransaction


@dataclass(frozen=True, slots=True)
class Onboarding:
    spec: PartnerSpec
    kit: Path  # the kit's directory; must not exist
    csr: bytes | None = None  # the partner's CSR (PEM); None: the hub makes the key pair
    psk: bytes | None = None  # a PSK agreed with the partner; None: a new one
    days: int = LEAF_DAYS
    api_url: str | None = None  # the partner API's URL in the kit (default: from the site)
    archive: bool = False  # also write <kit>.tar.gz
    with_secrets: bool = False  # the callback secret and PSK in the kit too
    test_accounts: bool = False  # the sandbox's test accounts in the kit's README


@dataclass(slots=True)
class Onboarded:
    partner: str
    api_key: str  # in clear: shown once, stored nowhere
    serial: int
    pin: str
    changed: list[str]
    kit: Path
    kit_files: list[str]
    archive: Path | None
    applied: list[perimeter.Applied] = field(default_factory=list)


def onboard(site_dir: Path, request: Onboarding, target: perimeter.Target,
            data_dir: Path, apply: bool = True) -> Onboarded:
    """Onboard the partner `request.spec` describes; `PartnerChangeRefused` (or
    `SiteInvalid` with every fault) and nothing changed when any step is refused. With
    `apply`, the new perimeter then goes live where it runs (`perimeter.apply`)."""
    spec = request.spec
    archive = request.kit.with_name(request.kit.name + ".tar.gz") if request.archive else None
    for path in (request.kit, archive):
        if path is not None and path.exists():
            raise PartnerChangeRefused(f"{path} exists already; the kit goes to a new place")
    if (site_dir / "partners" / f"{spec.id}.yaml").exists():
        raise PartnerChangeRefused(f"{site_dir}/partners/{spec.id}.yaml exists already")
    key = new_api_key()
    with PartnerLog(data_dir) as journal:
        with SiteTransaction(site_dir) as tx:
            issued, staged = _stage(tx, request, key, target)
            built = tx.scratch / request.kit.name
            files = write_kit(staged, staged.partners[spec.id], built, url=request.api_url,
                              with_secrets=request.with_secrets,
                              test_accounts=request.test_accounts)
            if archive is not None:
                write_archive(built, tx.scratch / archive.name)
            placed = _place(tx.scratch, request.kit, archive)
            try:
                changed = tx.commit()
            except BaseException:
                _remove(placed)
                raise
        done = Onboarded(spec.id, key, issued.cert.serial_number, fingerprint(issued.cert),
                         changed, request.kit, files, archive)
        if apply:
            done.applied = perimeter.apply(load_site(site_dir), target, data_dir)
        journal.record("onboard", spec.id, changed=changed, api_key="new",
                       serial=f"{done.serial:x}", pin=done.pin, kit=str(request.kit),
                       csr=request.csr is not None, perimeter=[str(a) for a in done.applied])
    return done


def _stage(tx: SiteTransaction, request: Onboarding, key: str, target: perimeter.Target
           ) -> tuple[Issued, Site]:
    """The partner's file, secrets and certificate on the staged copy, which must then
    load and render a perimeter Libreswan and nftables accept; returns the certificate and
    the staged site."""
    spec = request.spec
    edit = SiteEdit(tx.root)
    edit.create(f"partners/{spec.id}.yaml", partner_document(spec.fields()))
    edit.commit()  # the file alone checks first: its faults name what the operator gave
    write_api_key_hash(tx.root / api_key_ref(spec.id), key)
    write_hmac_secret(tx.root / callback_secret_ref(spec.id))
    if spec.tunnel is not None and spec.tunnel.auth == "psk":
        if request.psk is None:
            write_psk(tx.root / psk_ref(spec.id))
        else:
            write_secret(tx.root / psk_ref(spec.id), request.psk.strip() + b"\n")
    staged = tx.check()  # the secrets as written: a short PSK is a fault here
    if request.csr is not None:
        _check_csr(request.csr, staged.partners[spec.id].cert_subject)
    try:
        issued = issue_partner(staged, spec.id, request.csr, request.days)
    except PkiError as exc:
        raise PartnerChangeRefused(tx.unstaged(str(exc))) from None
    staged = tx.check()
    problems = perimeter.check(staged, target)
    if problems:
        raise PartnerChangeRefused(tx.unstaged("; ".join(problems)))
    return issued, staged


def _check_csr(pem: bytes, subject: str) -> None:
    """A CSR that names a subject must name the partner's: one made for someone else (or
    for another of this partner's systems) is a mistake to stop before anything is issued."""
    try:
        asked, ours = csr_subject(pem), subject_name(subject)
    except ValueError as exc:
        raise PartnerChangeRefused(f"--csr: {exc}") from None
    if len(asked) and not same_name(asked, ours):
        raise PartnerChangeRefused(f"--csr asks for {asked.rfc4514_string()}, but the "
                                   f"partner's certificate subject is {subject}")


def _place(scratch: Path, kit: Path, archive: Path | None) -> list[Path]:
    """Move the kit (and its archive) from the scratch directory to where they go."""
    placed = []
    try:
        kit.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(scratch / kit.name, kit)
        placed.append(kit)
        if archive is not None:
            shutil.move(scratch / archive.name, archive)
            placed.append(archive)
    except BaseException:
        _remove(placed)
        raise
    return placed


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
