"""The review queue page: editors (and admins) see what travelers asked that the bot did not answer well.

Each group links to the FAQ editor (console/editor.py): "create entry" opens a
new entry with the group's questions as phrasings, "add these phrasings" opens
an entry the bot considered with them ready to add. Questions holding a redaction placeholder
are shown but never offered as phrasings. Agents get 403: the queue is
editorial work, and it shows travelers' words outside any one handoff.
"""

from __future__ import annotations

from typing import List, Optional, cast

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from console import search
from travelbot.conversation_log import ConversationLog
from travelbot.review_queue import ORDERS, Cluster, ReviewQueue
from travelbot.settings import Settings

bp = Blueprint("review", __name__)
EDITORIAL_ROLES = frozenset({"editor", "admin"})
DEFAULT_DAYS = 30
MAX_DAYS = 366
MAX_CLUSTERS_SHOWN = 100


def editors_only() -> None:
    """Runs after the app's login guard, so the user is signed in here."""
    if current_user.role not in EDITORIAL_ROLES:
        abort(403, "the review queue and the dashboard are for editors and admins")


bp.before_request(editors_only)


def register(app: Flask, config: Settings, records: sa.engine.Engine) -> None:
    """Attach the review queue (one per process: it holds the embedding model once loaded) and its page."""
    log = ConversationLog.from_settings(config, records)
    app.extensions["travelbot_review"] = ReviewQueue(log, app.extensions["travelbot_embedder"])
    app.register_blueprint(bp)


def queue() -> ReviewQueue:
    return cast(ReviewQueue, current_app.extensions["travelbot_review"])


def window_days() -> int:
    """The ?days= window (1 to MAX_DAYS), default DEFAULT_DAYS."""
    raw = request.args.get("days", str(DEFAULT_DAYS))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        abort(400, f"days must be a whole number from 1 to {MAX_DAYS}")
    return int(raw)


def create_entry_link(cluster: Cluster) -> str:
    """The FAQ editor's new-entry page (console/editor.py) with the group's questions as phrasings."""
    return url_for("editor.new", phrasing=cluster.phrasings)


def add_phrasings_link(entry_id: str, cluster: Cluster) -> Optional[str]:
    """Entry ``entry_id``'s page in the FAQ editor with the group's questions to add (None when none fits)."""
    if not cluster.phrasings:
        return None
    return url_for("editor.edit", entry_id=entry_id, add_phrasing=cluster.phrasings)


def title(entry_id: str) -> str:
    entry = search.entry(entry_id)
    return entry.title if entry else entry_id


@bp.route("/review")
def review_queue() -> ResponseReturnValue:
    days = window_days()
    order = request.args.get("order", "largest")
    if order not in ORDERS:
        abort(400, f"order must be one of {', '.join(ORDERS)}")
    clusters: List[Cluster] = queue().clusters(queue().log.start_of(days), order)
    return render_template(
        "review.html",
        clusters=clusters[:MAX_CLUSTERS_SHOWN],
        total=len(clusters),
        days=days,
        order=order,
        orders=ORDERS,
        title=title,
        create_entry_link=create_entry_link,
        add_phrasings_link=add_phrasings_link,
    )
