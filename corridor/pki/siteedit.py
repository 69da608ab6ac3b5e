"""Line-level edits of site YAML files: set one scalar and leave every other line, and the
operators' comments, exactly as they were. Used to write a partner's `disabled` flag
(`partner disable`) and to move a copy of a site onto other ports (`embedded.relocate`)."""

from __future__ import annotations

import re
from pathlib import Path

from corridor.pki.files import write_atomic

_COMMENT = re.compile(r"(\s+#.*)$")


def set_field(path: Path, keys: tuple[str, ...], value: str) -> None:
    """Set `keys` (one top-level key, or a key and one nested key) to the YAML scalar text
    `value` (already quoted as needed). A missing key is added."""
    lines = path.read_text("utf-8").splitlines(keepends=True)
    if len(keys) == 1:
        _set_top(lines, keys[0], value)
    elif len(keys) == 2:
        _set_nested(lines, keys[0], keys[1], value)
    else:
        raise ValueError("only two levels of keys are supported")
    write_atomic(path, "".join(lines).encode("utf-8"))


def _replace_value(line: str, prefix_len: int, value: str) -> str:
    rest = line[prefix_len:].rstrip("\n")
    comment = _COMMENT.search(rest)
    tail = comment.group(1) if comment and not _in_quotes(rest, comment.start()) else ""
    return f"{line[:prefix_len]}{value}{tail}\n"


def _in_quotes(text: str, pos: int) -> bool:
    return text[:pos].count('"') % 2 == 1 or text[:pos].count("'") % 2 == 1


def _set_top(lines: list[str], key: str, value: str) -> None:
    pattern = re.compile(rf"^{re.escape(key)}:[ \t]*")
    for i, line in enumerate(lines):
        m = pattern.match(line)
        if m:
            lines[i] = _replace_value(line, m.end(), value)
            return
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines.append(f"{key}: {value}\n")


def _set_nested(lines: list[str], parent: str, key: str, value: str) -> None:
    head = re.compile(rf"^{re.escape(parent)}:[ \t]*(.*)$")
    for i, line in enumerate(lines):
        m = head.match(line.rstrip("\n"))
        if not m:
            continue
        inline = m.group(1).strip()
        if inline.startswith("{"):  # flow mapping on one line
            field = re.compile(rf"(\b{re.escape(key)}:\s*)(\"[^\"]*\"|'[^']*'|[^,}}]*)")
            if field.search(line):
                lines[i] = field.sub(lambda f: f.group(1) + value, line, count=1)
            else:
                lines[i] = line.replace("}", f", {key}: {value}}}", 1)
            return
        indent = "  "
        j = i + 1
        while j < len(lines):
            text = lines[j]
            if text.strip() and not text.startswith((" ", "\t")) and not text.startswith("#"):
                break
            sub = re.match(rf"^(\s+){re.escape(key)}:[ \t]*", text)
            if sub:
                lines[j] = _replace_value(text, sub.end(), value)
                return
            lead = re.match(r"^(\s+)\S", text)
            if lead:
                indent = lead.group(1)
            j += 1
        lines.insert(i + 1, f"{indent}{key}: {value}\n")
        return
    raise KeyError(f"no {parent!r} mapping in the file")
