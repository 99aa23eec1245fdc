"""The review queue page: editors (and admins) see what travelers asked that the bot did not answer well.

Each group links to the FAQ editor (console/editor.py): "create entry" opens a
new entry with the group's questions as phrasings, "add these phrasings" opens
an entry the bot considered with them ready to add (long ones as chat phrasings:
console/editor_forms.py). Questions holding a redaction placeholder
are shown but never offered as phrasings. Agents get 403: the queue is
editorial work, and it shows travelers' words outside any one handoff.
"""

from __future__ import annotations

from typing import List, Optional, cast
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from console import search
from travelbot import audit
from travelbot.audit import AuditLog
from travelbot.conversation_log import ConversationLog
from travelbot.regression import MAX_QUESTION_CHARS, NO_ANSWER, Expect, RegressionError, save_question
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
    app.extensions["travelbot_review_settings"] = config
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


class SaveQuestionForm(FlaskForm):
    """One example of a group, saved into the gate's regression set with the answer it must get."""

    question = StringField(validators=[DataRequired(), Length(max=MAX_QUESTION_CHARS)])
    expect = StringField(validators=[DataRequired(), Length(max=200)])


@bp.route("/review/regression", methods=["POST"])
def save_regression_question() -> ResponseReturnValue:
    form = SaveQuestionForm()
    if not form.validate_on_submit():
        abort(400, "a question and what it must get (an entry id or no_answer) are needed")
    choice = (form.expect.data or "").strip()
    if choice != NO_ANSWER and search.entry(choice) is None:
        abort(400, f"no entry {choice!r}")
    expect: Expect = NO_ANSWER if choice == NO_ANSWER else (choice,)
    config = cast(Settings, current_app.extensions["travelbot_review_settings"])
    try:
        saved = save_question(
            config.corpus_path(), config.index_path(), form.question.data or "", expect, current_user.name
        )
    except RegressionError as exc:
        abort(400, str(exc))
    AuditLog(cast(sa.engine.Engine, current_app.extensions["travelbot_cases"].engine)).record(
        current_user.name,
        audit.QUESTION_SAVED,
        choice,
        {"question": saved.question, "updated": saved.updated},
    )
    what = "no answer (hand off or decline)" if choice == NO_ANSWER else f"“{title(choice)}”"
    flash(f"Saved for the publication gate: “{saved.question}” must get {what}.", "info")
    return redirect(request.referrer if _same_site(request.referrer) else url_for("review.review_queue"), 303)


def _same_site(url: Optional[str]) -> bool:
    return bool(url) and urlsplit(url or "").netloc in ("", request.host)


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
        save_form=SaveQuestionForm(),
        no_answer=NO_ANSWER,
    )
