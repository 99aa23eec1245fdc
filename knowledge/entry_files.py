"""Writing FAQ entries back to their YAML files, in the hand-written style, so an edit is a small diff.

The files are the corpus's source of truth and are also edited by hand in git, so a program that writes one
must produce what a person would: fields in the schema's order, phrasings and aliases as an indented block
list, the web answer as a block literal (``answer: |``), the SMS answer double-quoted, optional fields left
out while empty. People quote scalars inconsistently (``"151 rum"`` but ``roach spray allowed?``), so a
value that is already in the file keeps the quoting it has there; a new value is written plain when YAML
allows it, else double-quoted. Writing an unchanged entry therefore gives back the file's exact bytes.
"""

from __future__ import annotations

import os
import tempfile
from enum import Enum
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from knowledge.corpus import KIND_FOLDERS
from knowledge.schema import Entry

STR_TAG = "tag:yaml.org,2002:str"
_PLAIN = "plain"  # our marker for "write this scalar unquoted" (PyYAML's own marker for it is None)
# How a field is written when the file has no say (a new entry, or a value that changed).
FIELD_STYLE = {"answer": "|", "answer_sms": '"', "review_note": '"'}
Styles = Dict[Tuple[str, str], str]


class _EntryDumper(yaml.SafeDumper):
    """PyYAML's emitter with the corpus's conventions: indented lists, double quotes, no line wrapping."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # "  - item" under its key, not "- item"

    def choose_scalar_style(self) -> str:
        if getattr(self.event, "style", None) == _PLAIN:
            return ""
        style: str = super().choose_scalar_style()
        return '"' if style == "'" else style


def entry_path(corpus_dir: Path, entry: Entry) -> Path:
    """Where ``entry`` lives: ``items/<id>.yml`` for a TSA item, ``topics/<id>.yml`` for a topic."""
    return corpus_dir / KIND_FOLDERS[entry.kind.value] / f"{entry.id}.yml"


def find_entry_file(corpus_dir: Path, entry_id: str) -> Optional[Path]:
    """The file that holds ``entry_id`` (in whichever kind's folder), or None."""
    for folder in KIND_FOLDERS.values():
        path = corpus_dir / folder / f"{entry_id}.yml"
        if path.exists():
            return path
    return None


def _styles_in(text: str) -> Styles:
    """How each value of a file is quoted, keyed by (field, value); list items by (field, item)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    styles: Styles = {}
    if not isinstance(root, MappingNode):
        return styles
    for key, value in root.value:
        scalars = value.value if isinstance(value, SequenceNode) else [value]
        for node in scalars:
            if isinstance(node, ScalarNode) and node.tag == STR_TAG:
                styles[(str(key.value), str(node.value))] = node.style or _PLAIN
    return styles


def _fields(entry: Entry) -> List[Tuple[str, Union[str, List[str], Node]]]:
    """The fields a file spells out, in schema order; defaults (empty lists, no review flag) left out."""
    values: Dict[str, Any] = entry.dict()
    out: List[Tuple[str, Union[str, List[str], Node]]] = []
    for name in Entry.__fields__:
        value = values[name]
        if value is None or value == [] or (name == "needs_review" and not value):
            continue
        if name == "last_reviewed":
            out.append((name, ScalarNode("tag:yaml.org,2002:timestamp", value.isoformat())))
        elif name == "needs_review":
            out.append((name, ScalarNode("tag:yaml.org,2002:bool", "true")))
        elif name == "answer":
            out.append((name, value + "\n"))  # the block literal keeps its final line break
        elif isinstance(value, list):
            out.append((name, [str(item) for item in value]))
        else:
            out.append((name, value.value if isinstance(value, Enum) else str(value)))
    return out


def render_entry(entry: Entry, previous: Optional[str] = None) -> str:
    """The file text for ``entry``; ``previous`` (the file's current text) says how kept values are quoted."""
    styles = _styles_in(previous) if previous else {}

    def scalar(name: str, value: str) -> ScalarNode:
        style = styles.get((name, value), FIELD_STYLE.get(name))
        return ScalarNode(STR_TAG, value, style=style)

    pairs: List[Tuple[Node, Node]] = []
    for name, value in _fields(entry):
        if isinstance(value, Node):
            node: Node = value
        elif isinstance(value, list):
            node = SequenceNode("tag:yaml.org,2002:seq", [scalar(name, item) for item in value])
        else:
            node = scalar(name, value)
        pairs.append((ScalarNode(STR_TAG, name), node))
    text: str = yaml.serialize(
        MappingNode("tag:yaml.org,2002:map", pairs),
        Dumper=_EntryDumper,
        allow_unicode=True,
        width=1_000_000,  # never fold a long line: one changed word must not re-wrap a paragraph
    )
    return text


def write_text_atomic(path: Path, text: str) -> None:
    """Readers (a publish, `travelbot validate`, git) see the old file or the new one, never half of one."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_entry(corpus_dir: Path, entry: Entry) -> Path:
    """Write ``entry`` to its file (replacing it atomically); a copy left in the other kind's folder goes."""
    path = entry_path(corpus_dir, entry)
    previous = path.read_text(encoding="utf-8") if path.exists() else None
    elsewhere = find_entry_file(corpus_dir, entry.id)
    if previous is None and elsewhere is not None:  # the entry changed kind: keep its quoting, move it
        previous = elsewhere.read_text(encoding="utf-8")
    write_text_atomic(path, render_entry(entry, previous))
    if elsewhere is not None and elsewhere != path:
        elsewhere.unlink()
    return path


def remove_entry(corpus_dir: Path, entry_id: str) -> Path:
    """Delete the entry's file; returns the path it had. FileNotFoundError if there is no such entry."""
    path = find_entry_file(corpus_dir, entry_id)
    if path is None:
        raise FileNotFoundError(f"no entry file for {entry_id!r} under {corpus_dir}")
    path.unlink()
    return path
