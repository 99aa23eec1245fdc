"""Console edits that are not published yet, and how they become the corpus files at publish time.

The corpus files stay the source of truth: a draft is only a pending change to one entry (its full new
content, or its retirement), kept in the same database as the handoffs (``travelbot.handoffs.metadata``)
so that several editors see each other's work and nothing is lost on a restart. Publishing from the console
writes the drafts to the files and runs the same `travelbot publish` pipeline as the CLI; when that refuses,
the files are put back exactly as they were and the drafts stay, to be fixed or discarded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import sqlalchemy as sa

from knowledge.corpus import Corpus
from knowledge.embedder import Embedder
from knowledge.entry_files import find_entry_file, remove_entry, write_entry
from knowledge.schema import Entry
from travelbot.gate import Parser, rasa_parser
from travelbot.handoffs import metadata
from travelbot.publisher import PublishResult, publish_rewritten
from travelbot.schema import ensure_schema
from travelbot.settings import Settings

drafts = sa.Table(
    "drafts",
    metadata,
    sa.Column("entry_id", sa.String(255), primary_key=True),
    sa.Column("entry", sa.Text, nullable=True),  # the entry's JSON; NULL: retire the entry
    sa.Column("author", sa.String(255), nullable=False),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revision", sa.String(32), nullable=False),  # new on every save: "still the one applied?"
)


@dataclass(frozen=True)
class Draft:
    entry_id: str
    entry: Optional[Entry]  # None: the entry is to be retired (its file removed)
    author: str
    saved_at: dt.datetime
    revision: str

    @property
    def retires(self) -> bool:
        return self.entry is None


class DraftStore:
    def __init__(self, engine: sa.engine.Engine):
        self.engine = engine
        ensure_schema(engine)

    def _put(self, entry_id: str, entry_json: Optional[str], author: str) -> Draft:
        values = {
            "entry": entry_json,
            "author": author,
            "saved_at": dt.datetime.now(dt.timezone.utc),
            "revision": uuid.uuid4().hex,
        }
        with self.engine.begin() as conn:
            updated = conn.execute(drafts.update().where(drafts.c.entry_id == entry_id).values(**values))
            if not updated.rowcount:
                conn.execute(drafts.insert().values(entry_id=entry_id, **values))
        found = self.get(entry_id)
        assert found is not None
        return found

    def save(self, entry: Entry, author: str) -> Draft:
        """Create or replace the draft of ``entry.id`` with this full content."""
        return self._put(entry.id, entry.json(), author)

    def retire(self, entry_id: str, author: str) -> Draft:
        """Create or replace the draft of ``entry_id`` with its retirement."""
        return self._put(entry_id, None, author)

    @staticmethod
    def _draft(row: sa.engine.RowMapping) -> Draft:
        entry = Entry.parse_raw(row["entry"]) if row["entry"] is not None else None
        return Draft(row["entry_id"], entry, row["author"], row["saved_at"], row["revision"])

    def get(self, entry_id: str) -> Optional[Draft]:
        with self.engine.connect() as conn:
            row = conn.execute(drafts.select().where(drafts.c.entry_id == entry_id)).mappings().first()
        return self._draft(row) if row else None

    def all(self) -> List[Draft]:
        with self.engine.connect() as conn:
            rows = conn.execute(drafts.select().order_by(drafts.c.entry_id)).mappings().all()
        return [self._draft(row) for row in rows]

    def discard(self, entry_id: str) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(drafts.delete().where(drafts.c.entry_id == entry_id)).rowcount)

    def discard_published(self, published: Sequence[Draft]) -> None:
        """Remove the drafts that were published, unless someone saved a newer one meanwhile."""
        with self.engine.begin() as conn:
            for draft in published:
                conn.execute(
                    drafts.delete().where(
                        (drafts.c.entry_id == draft.entry_id) & (drafts.c.revision == draft.revision)
                    )
                )

    def overlay(self, corpus: Corpus) -> Corpus:
        """The corpus as it would be with every draft applied (files + drafts), in memory."""
        entries = {entry.id: entry for entry in corpus}
        for draft in self.all():
            if draft.entry is None:
                entries.pop(draft.entry_id, None)
            else:
                entries[draft.entry_id] = draft.entry
        return Corpus(list(entries.values()), corpus.root)

    def apply(self, corpus_dir: Path) -> List[Draft]:
        """Write every draft to the corpus files (travelbot.publisher.publish_rewritten puts them back
        if the publication is refused); the drafts written."""
        applied = self.all()
        for draft in applied:
            if draft.entry is not None:
                write_entry(corpus_dir, draft.entry)
            elif find_entry_file(corpus_dir, draft.entry_id) is not None:
                remove_entry(corpus_dir, draft.entry_id)
        return applied


@dataclass
class DraftsPublished:
    result: PublishResult
    drafts: List[Draft]  # the drafts that went into this publication (or would have)


def publish_drafts(
    config: Settings,
    store: DraftStore,
    author: str,
    reason: str,
    override: Optional[str] = None,
    embedder: Optional[Embedder] = None,
    parser: Callable[[], Parser] = rasa_parser,
) -> DraftsPublished:
    """Apply the drafts to the files and publish them; a refusal leaves files and drafts as they were."""
    applied: List[Draft] = []

    def write(corpus_dir: Path) -> None:
        applied.extend(store.apply(corpus_dir))

    result = publish_rewritten(
        config, write, reason, override=override, parser=parser, embedder=embedder, author=author
    )
    if result.version is not None:
        store.discard_published(applied)
    return DraftsPublished(result, applied)
