"""YAML loading that remembers where each value came from, so that every fault in the site
directory can be reported as `file:line: message`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


class Node:
    """Where a value was written: the file and its 1-based line."""

    __slots__ = ("file", "line")

    def __init__(self, file: str, line: int) -> None:
        self.file = file
        self.line = line

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class LDict(dict[Any, Any]):
    """A mapping that knows its own position and the position of each key's value."""

    where: Node
    positions: dict[Any, Node]

    def at(self, key: Any) -> Node:
        return self.positions.get(key, self.where)


class LList(list[Any]):
    where: Node
    positions: list[Node]

    def at(self, index: int) -> Node:
        return self.positions[index] if index < len(self.positions) else self.where


class _Loader(yaml.SafeLoader):
    file_label = "?"

    def _node(self, node: yaml.Node) -> Node:
        return Node(self.file_label, node.start_mark.line + 1)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LDict:
        self.flatten_mapping(node)
        result = LDict()
        result.where = self._node(node)
        result.positions = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in result:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            result[key] = self.construct_object(value_node, deep=True)
            result.positions[key] = self._node(key_node)
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LList:
        result = LList(self.construct_object(child, deep=True) for child in node.value)
        result.where = self._node(node)
        result.positions = [self._node(child) for child in node.value]
        return result


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    return loader.construct_mapping(node)


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    return loader.construct_sequence(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


class YamlFault(Exception):
    def __init__(self, where: Node, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def load_yaml(path: Path, label: str, text: str | None = None) -> Any:
    """Load one YAML file, or `text` in its place; `label` is how faults name the file
    (relative to the site)."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise YamlFault(Node(label, 1), f"cannot read: {exc.strerror}") from None
    loader = _Loader(text)
    loader.file_label = label
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlFault(Node(label, line), f"YAML: {exc.problem or exc.context}") from None
    finally:
        loader.dispose()
    return data


class SiteYaml:
    """The site's YAML files as the loader reads them: the files on disk, with `pending`
    texts (by site-relative name) read in place of theirs, so that an edit is checked
    before anything is written (`corridor.site.edit`)."""

    def __init__(self, root: Path, pending: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.pending = dict(pending or {})

    def exists(self, label: str) -> bool:
        return label in self.pending or (self.root / label).is_file()

    def labels(self, folder: str) -> list[str]:
        """The `*.yaml` files of `folder`, sorted."""
        on_disk = {f"{folder}/{p.name}" for p in (self.root / folder).glob("*.yaml")}
        # A pending name that is no plain file of the folder (`partners/../x.yaml`) is
        # listed too, for the check to refuse it by its name.
        added = {label for label in self.pending
                 if label.startswith(f"{folder}/") and label.endswith(".yaml")}
        return sorted(on_disk | added)

    def load(self, label: str) -> Any:
        return load_yaml(self.root / label, label, self.pending.get(label))
