"""The latest session of recent conversations, kept parsed so a turn reads only the events added since.

Why: Rasa reads a conversation back from the tracker store on every traveler message, and its SQL store
fetches and JSON-parses every event of the latest session each time. That was over a third of the Rasa
server's CPU per message, growing with the length of the conversation (tens of events per exchange).

Here each conversation's latest-session events are kept as parsed dictionaries with the highest row id
read so far. A read asks the database, in one statement, only for rows with a higher id and how many rows
the conversation has up to that id. If that count is not what was read before (rows were deleted), the
conversation is read in full again. The rows of one conversation are written one turn at a time under
Rasa's lock (in-memory, or Redis across instances), so a row committed later for the same conversation
has a higher id; rows written by another instance are therefore picked up like our own.

Which rows belong to the latest session follows Rasa's ``SQLTrackerStore._event_query``: timestamp at or
after the latest ``session_started`` event's, or all rows when there is none. A new session start among
the new rows narrows the kept rows to that rule.

The dictionaries are handed to ``DialogueStateTracker.from_dict``, which builds new event objects from
them each time. The one change Rasa makes in place while replaying (``EntitiesAdded`` appending to the
user message's entity list, which the kept dictionary shares) adds only what is missing, so replaying
the same dictionaries again gives the same tracker; the test covers it. At most
``max_events`` events are kept in all, the least recently read conversations dropped first: a parsed
event takes about 2.3 KB (measured on events shaped like ours), so the default is about 230 MB at most,
some thousands of typical conversations. A conversation dropped is simply read in full on its next turn.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from rasa.shared.core.events import SessionStarted

DEFAULT_MAX_EVENTS = 100_000
Row = Tuple[int, str, Optional[float], str]  # id, type_name, timestamp, data


@dataclass
class Session:
    """One conversation's latest-session events as read so far."""

    last_id: int = 0
    rows_up_to_last: int = 0  # the conversation's rows with id <= last_id, in every session
    started_at: Optional[float] = None  # the latest session_started timestamp, None when there is none
    events: List[Tuple[Optional[float], Dict[str, Any]]] = field(default_factory=list)

    def add(self, rows: Sequence[Row]) -> None:
        """Rows with higher ids than any read before, in id order."""
        started = SessionStarted.type_name
        starts: List[float] = [stamp for _, kind, stamp, _ in rows if kind == started and stamp is not None]
        if starts and (self.started_at is None or max(starts) > self.started_at):
            self.started_at = max(starts)
            self.events = [(stamp, data) for stamp, data in self.events if self._in_session(stamp)]
        self.events.extend((stamp, json.loads(data)) for _, _, stamp, data in rows if self._in_session(stamp))
        if rows:
            self.last_id = rows[-1][0]
        self.rows_up_to_last += len(rows)

    def _in_session(self, stamp: Optional[float]) -> bool:
        # SQL's `timestamp >= start` is not true for a NULL timestamp
        return self.started_at is None or (stamp is not None and stamp >= self.started_at)


class LatestSessionCache:
    """Reads a conversation's latest session through ``connection``, fetching only rows not yet read."""

    def __init__(self, events: sa.Table, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self.max_events = max_events
        self._kept_events = 0
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        sender_id, last_id = sa.bindparam("sender_id"), sa.bindparam("last_id")
        counted = (
            sa.select(sa.func.count().label("up_to_last"))
            .where(events.c.sender_id == sender_id, events.c.id <= last_id)
            .subquery()
        )
        newer = sa.and_(events.c.sender_id == sender_id, events.c.id > last_id)
        # one round trip: the count on every row, and one row of NULLs with it when nothing is newer
        columns = (events.c.id, events.c.type_name, events.c.timestamp, events.c.data)
        self._read = (
            sa.select(counted.c.up_to_last, *columns)
            .select_from(counted.outerjoin(events, newer))
            .order_by(events.c.id)
        )

    def read(self, connection: sa.engine.Connection, sender_id: str) -> List[Dict[str, Any]]:
        """The conversation's latest-session events as dictionaries, in order (empty: none stored)."""
        session = self._sessions.pop(sender_id, None) or Session()
        self._kept_events -= len(session.events)
        found = connection.execute(self._read, {"sender_id": sender_id, "last_id": session.last_id}).all()
        if found[0].up_to_last != session.rows_up_to_last:  # rows were deleted: read them all again
            session = Session()
            found = connection.execute(self._read, {"sender_id": sender_id, "last_id": 0}).all()
        session.add([(row.id, row.type_name, row.timestamp, row.data) for row in found if row.id is not None])
        if session.last_id:
            self._sessions[sender_id] = session
            self._kept_events += len(session.events)
            while self._kept_events > self.max_events and self._sessions:
                _, dropped = self._sessions.popitem(last=False)
                self._kept_events -= len(dropped.events)
        return [data for _, data in session.events]
