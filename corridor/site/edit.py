"""The one place that edits a site's YAML files: `corridor partner add` and `disable`, and
moving a copy of a site onto other ports (`relocate`, for stacks side by side).

Files go through ruamel.yaml's round-trip mode, which keeps what operators wrote (comments
and their columns, key order, quoting, flow style such as `{host: ..., port: ...}`): only
the changed values differ. An edit is checked as a whole, from its new texts, before any
file is written; a refused edit raises `SiteInvalid` with every fault as
`file:line: message` and leaves the files as they were. Each file is then replaced
atomically, so a reader never sees half of one (an edit of several files, such as
`relocate`, is written one file after the other).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from corridor.pki.files import write_atomic
from corridor.site.faults import Fault, SiteInvalid
from corridor.site.loader import LISTENERS, check_site
from corridor.site.yamlines import Node

# The order the demo's partner files are written in; a new partner file follows it.
PARTNER_KEYS = (
    "id", "name", "country", "role", "currencies", "allowed_ips", "certificate", "api_key",
    "callback_url", "endpoint", "connector", "iso20022", "payout_methods", "callback_secret",
    "float", "limits", "tunnel", "disabled", "offboarded",
)


class SiteEdit:
    """Changes to one site's YAML files, checked together and then written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._docs: dict[str, Any] = {}
        self._yaml: dict[str, YAML] = {}
        self._changed: set[str] = set()
        self._created: set[str] = set()

    def document(self, file: str) -> Any:
        """The round-trip document of `file` (relative to the site), loaded once."""
        if file not in self._docs:
            text = (self.root / file).read_text("utf-8")
            emitter = _yaml()
            try:
                doc, indent, offset = load_yaml_guess_indent(text, yaml=emitter)
            except MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                line = mark.line + 1 if mark else 1
                problem = exc.problem or exc.context
                raise SiteInvalid([Fault(Node(file, line), f"YAML: {problem}")]) from None
            # How far block sequences are indented is the one thing ruamel.yaml does not
            # keep by itself: take it from the file so that it is written back as it was.
            emitter.indent(mapping=2, sequence=indent or 2, offset=offset or 0)
            self._docs[file], self._yaml[file] = doc, emitter
        return self._docs[file]

    def set(self, file: str, path: Sequence[str | int], value: object) -> None:
        """Set the value at `path` (keys and list indexes) in `file`; the last key is added
        when it is missing. A new string keeps the quoting of the one it replaces."""
        parent = self.document(file)
        try:
            for step in path[:-1]:
                parent = parent[step]
            old = parent.get(path[-1]) if isinstance(parent, dict) else parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            raise LookupError(f"{file} has no {'.'.join(map(str, path))}") from None
        parent[path[-1]] = _scalar(value, like=old)
        self._changed.add(file)

    def append(self, file: str, path: Sequence[str | int], value: Mapping[str, object]
               ) -> None:
        """Add a mapping at the end of the list at `path` in `file`."""
        parent = self.document(file)
        try:
            for step in path:
                parent = parent[step]
        except (KeyError, IndexError, TypeError):
            raise LookupError(f"{file} has no {'.'.join(map(str, path))}") from None
        item = CommentedMap()
        for key, val in value.items():
            item[key] = _scalar(val)
        if parent and hasattr(parent[-1], "fa") and parent[-1].fa.flow_style():
            item.fa.set_flow_style()
        parent.append(item)
        self._changed.add(file)

    def create(self, file: str, document: CommentedMap) -> None:
        """A new file; refused when one is there already."""
        if file in self._docs or (self.root / file).exists():
            raise FileExistsError(f"{self.root / file} exists already")
        self._docs[file], self._yaml[file] = document, _yaml()
        self._changed.add(file)
        self._created.add(file)

    def texts(self) -> dict[str, str]:
        """The new text of every file this edit touches."""
        out = {}
        for file in sorted(self._changed):
            buffer = io.StringIO()
            self._yaml[file].dump(self._docs[file], buffer)
            out[file] = buffer.getvalue()
        return out

    def check(self) -> dict[str, str]:
        """The new texts, once the site as this edit leaves it has no faults; `SiteInvalid`
        with all of them otherwise."""
        texts = self.texts()
        faults = check_site(self.root, texts)
        if faults:
            raise SiteInvalid(faults)
        return texts

    def commit(self) -> None:
        """Check, then write each changed file atomically, keeping its permissions."""
        for file, text in self.check().items():
            path = self.root / file
            mode = 0o644 if file in self._created else path.stat().st_mode & 0o777
            try:
                write_atomic(path, text.encode("utf-8"), mode)
            except OSError as exc:  # name the file, not write_atomic's temporary one
                raise OSError(exc.errno, exc.strerror, str(path)) from exc


def set_value(root: Path, file: str, path: Sequence[str | int], value: object) -> None:
    """Set one value in one file of the site at `root`, checked and written atomically."""
    edit = SiteEdit(root)
    edit.set(file, path, value)
    edit.commit()


def partner_document(fields: Mapping[str, object]) -> CommentedMap:
    """A partner file shaped like the demo's: keys in their order (others after them, for
    the check to report), lists on one line, strings quoted where YAML needs it, and the
    note on where the certificate pin comes from. Fields that are None are left out."""
    order = {key: i for i, key in enumerate(PARTNER_KEYS)}
    doc = CommentedMap()
    for key in sorted(fields, key=lambda k: order.get(k, len(order))):
        if fields[key] is not None:
            doc[key] = _node(fields[key])
    keys = list(doc)
    if "certificate" in keys and keys[-1] != "certificate":
        pid = doc.get("id")
        note = f"Pinned to pki/partners/{pid}.crt, which `corridor pki issue {pid}` writes."
        after = keys[keys.index("certificate") + 1]
        doc.yaml_set_comment_before_after_key(after, before=note, indent=2)
    return doc


def relocate(root: Path, ports: Mapping[str, int]) -> None:
    """Point a site's listeners and partner URLs at other ports: keys are listener names
    of hub.yaml (`eig`, `eig_internal`, `txn`, `rpt`, `jump`) or partner ids (a receive
    partner's `endpoint`, a send partner's `callback_url`)."""
    edit = SiteEdit(root)
    for name, port in ports.items():
        if name in LISTENERS:
            edit.set("hub.yaml", ("listen", name, "port"), port)
            continue
        file = f"partners/{name}.yaml"
        if not (root / file).is_file():
            raise LookupError(f"{name!r} is neither a listener nor a partner of {root}")
        partner = edit.document(file)
        for key in ("endpoint", "callback_url"):
            url = partner.get(key)
            if isinstance(url, str):
                edit.set(file, (key,), _with_port(url, port))
    edit.commit()


def move_host(root: Path, name: str, **fields: object) -> None:
    """Change fields of one managed host of hub.yaml's `hosts` (its `address`, `ssh_port`),
    found by name: what the jump server's tests and bench point at their own sshd."""
    edit = SiteEdit(root)
    hosts = edit.document("hub.yaml")["hosts"]
    found = next((i for i, host in enumerate(hosts) if host["name"] == name), None)
    if found is None:
        raise LookupError(f"no host {name!r} in {root}/hub.yaml")
    for key, value in fields.items():
        edit.set("hub.yaml", ("hosts", found, key), value)
    edit.commit()


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return urlunsplit(parts._replace(netloc=f"{host}:{port}"))


def _yaml() -> YAML:
    """Round-trip YAML in the site's style: mappings indented by 2, block sequences by 4
    with the dash at 2, long lines never folded (fee rules are written one to a line)."""
    emitter = YAML()
    emitter.preserve_quotes = True
    emitter.width = 4096
    emitter.indent(mapping=2, sequence=4, offset=2)
    return emitter


def _scalar(value: object, like: object = None) -> object:
    """`value` as it should be written: a string keeps the quoting of the one it replaces
    (`like`), and is quoted when the site loader would read it plain as something else.
    The loader is PyYAML, which reads YAML 1.1 (`NO`, `yes`, `12:30`, `0755`, `1.50` are not
    strings there), while ruamel.yaml writes YAML 1.2 and would leave them plain."""
    if not isinstance(value, str) or isinstance(value, ScalarString):
        return value
    if isinstance(like, ScalarString):
        return type(like)(value)
    try:
        plain = yaml.safe_load(value) == value
    except yaml.YAMLError:
        plain = False
    return value if plain else DoubleQuotedScalarString(value)


def _node(value: object) -> object:
    """A new value: mappings in block style, lists of scalars on one line."""
    if isinstance(value, Mapping):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _node(v)
        return out
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq(_node(v) for v in value)
        if not any(isinstance(v, (Mapping, list, tuple)) for v in value):
            seq.fa.set_flow_style()
        return seq
    return _scalar(value)
