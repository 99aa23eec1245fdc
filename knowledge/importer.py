"""Bring in a newer TSA "What Can I Bring?" export without losing an editor's work.

The export decides which items exist and what TSA says about them; the entry
files hold what editors wrote. So an import never rewrites an answer: it
reports what TSA changed, marks the affected entries ``needs_review`` with a
note saying why, and replaces the stored export so the validator checks
coverage against the new list (an added item shows up as a missing entry
until an editor writes it).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

from knowledge.corpus import CORPUS_DIR
from knowledge.schema import slugify
from knowledge.validate import TSA_ITEMS_FILE

REQUIRED_KEYS = ("name", "description", "carryOnRaw", "checkedRaw")


class ExportFormatError(ValueError):
    """The file is not an export in the expected format."""


@dataclass
class StatusChange:
    entry_id: str
    bag: str  # "carry-on" or "checked"
    before: str
    after: str


@dataclass
class ImportReport:
    added: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)
    changed: List[StatusChange] = field(default_factory=list)
    marked: List[str] = field(default_factory=list)

    def lines(self) -> List[str]:
        out = [f"added items ({len(self.added)}): write an entry for each in knowledge/corpus/items/"]
        out += [f"  + {i}" for i in self.added]
        out.append(f"removed items ({len(self.removed)}): entries kept, marked for review")
        out += [f"  - {i}" for i in self.removed]
        out.append(f"status changes ({len(self.changed)}):")
        out += [f"  ~ {c.entry_id}: {c.bag} {c.before!r} -> {c.after!r}" for c in self.changed]
        out.append(f"entries marked needs_review: {len(self.marked)}")
        return out


def read_export(path: Path) -> Dict[str, Dict[str, Any]]:
    """Items of an export by entry id; raises ExportFormatError naming what is wrong."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportFormatError(f"{path}: cannot read a JSON export: {exc}") from exc
    if not isinstance(items, list):
        raise ExportFormatError(f"{path}: expected a JSON list of items")
    by_id: Dict[str, Dict[str, Any]] = {}
    for number, item in enumerate(items):
        missing = [k for k in REQUIRED_KEYS if not isinstance(item, dict) or not isinstance(item.get(k), str)]
        if missing:
            raise ExportFormatError(f"{path}: item {number} lacks {', '.join(missing)}")
        by_id[slugify(item["name"])] = item
    return by_id


def compare(old: Dict[str, Dict[str, Any]], new: Dict[str, Dict[str, Any]]) -> ImportReport:
    report = ImportReport(added=sorted(set(new) - set(old)), removed=sorted(set(old) - set(new)))
    for entry_id in sorted(set(old) & set(new)):
        for bag, key in (("carry-on", "carryOnRaw"), ("checked", "checkedRaw")):
            if old[entry_id][key] != new[entry_id][key]:
                report.changed.append(StatusChange(entry_id, bag, old[entry_id][key], new[entry_id][key]))
    return report


def review_notes(report: ImportReport) -> Dict[str, str]:
    today = dt.date.today().isoformat()
    notes: Dict[str, List[str]] = {}
    for entry_id in report.removed:
        notes.setdefault(entry_id, []).append("no longer in TSA's list")
    for c in report.changed:
        notes.setdefault(c.entry_id, []).append(f"TSA {c.bag} now {c.after!r} (was {c.before!r})")
    return {k: f"import {today}: " + "; ".join(v) for k, v in notes.items()}


_FLAG_LINE = re.compile(r"^(needs_review|review_note):.*(\n(?![A-Za-z_]).*)*\n?", re.MULTILINE)


def mark_for_review(path: Path, note: str) -> None:
    """Set needs_review and review_note in an entry file, leaving every other line as the editor wrote it."""
    text = _FLAG_LINE.sub("", path.read_text(encoding="utf-8"))
    if not text.endswith("\n"):
        text += "\n"
    text += f"needs_review: true\nreview_note: {json.dumps(note)}\n"
    tmp = path.with_suffix(".yml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def import_export(
    path: Path, current: Path = TSA_ITEMS_FILE, corpus_dir: Path = CORPUS_DIR
) -> Tuple[ImportReport, Dict[str, str]]:
    """Compare, mark affected entries, then store the new export as the current one."""
    new = read_export(path)
    report = compare(read_export(current), new)
    notes = review_notes(report)
    for entry_id, note in notes.items():
        entry_file = corpus_dir / "items" / f"{entry_id}.yml"
        if entry_file.is_file():
            mark_for_review(entry_file, note)
            report.marked.append(entry_id)
    if path.resolve() != current.resolve():
        shutil.copyfile(path, current)
    return report, notes
