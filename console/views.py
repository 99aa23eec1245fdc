"""Inbox, conversation view and the actions on a handoff (claim, reply, note, resolve).

Pages are server-rendered (Jinja autoescapes every value) and work without
JavaScript; console.js keeps them current by polling the two small JSON
endpoints under /api/ and renders what they return with textContent only.
Every action is a POST form carrying a CSRF token and redirects back (PRG).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, cast

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from console import search
from console.auth import can_act
from console.delivery import TWILIO_CHANNELS, deliver, opted_out
from console.rasa_api import Line, RasaApi, RasaApiError, transcript
from travelbot.casework import VIEWS, Case, CaseError, CaseStore
from travelbot.optouts import OptOutStore

logger = logging.getLogger(__name__)
bp = Blueprint("views", __name__)
MAX_REPLY_CHARS = 1600


class TextForm(FlaskForm):
    text = TextAreaField("Message", validators=[DataRequired(), Length(max=MAX_REPLY_CHARS)])


class ActionForm(FlaskForm):
    """A button-only form: just the CSRF token."""


def cases() -> CaseStore:
    return cast(CaseStore, current_app.extensions["travelbot_cases"])


def optouts() -> OptOutStore:
    return cast(OptOutStore, current_app.extensions["travelbot_optouts"])


def rasa() -> RasaApi:
    return cast(RasaApi, current_app.extensions["travelbot_rasa"])


def _case_or_404(handoff_id: int) -> Case:
    case = cases().get(handoff_id)
    if case is None:
        abort(404, f"no handoff {handoff_id}")
    return case


def _lines(case: Case) -> tuple[List[Line], Optional[str]]:
    """The conversation from Rasa's tracker; on failure, the copy stored at handoff time."""
    try:
        return transcript(rasa().events(case.conversation_id)), None
    except RasaApiError as exc:
        logger.warning("tracker of handoff %s unavailable: %s", case.id, exc)
        stored = [
            Line(
                "traveler" if item.get("role") == "user" else "bot",
                str(item["text"]),
                float(item.get("time") or 0),
            )
            for item in case.transcript
            if item.get("text")
        ]
        return stored, f"{exc}; showing the conversation up to the handoff only"


def _state(case: Case) -> Dict[str, Any]:
    lines, problem = _lines(case)
    messages = cases().messages(case.id)
    return {
        "case": case.to_json(),
        "transcript": [line.to_json() for line in lines],
        "transcript_problem": problem,
        "notes": [m.to_json() for m in messages if m.kind == "note"],
        "replies": [m.to_json() for m in messages if m.kind == "reply"],
        "opted_out": opted_out(case, optouts()),
        "mine": case.status == "claimed" and case.agent == current_user.name,
    }


@bp.route("/")
def inbox() -> ResponseReturnValue:
    view = request.args.get("view", "waiting")
    if view not in VIEWS:
        abort(404)
    return render_template(
        "inbox.html",
        view=view,
        views=VIEWS,
        cases=cases().inbox(view, current_user.name),
        counts=cases().counts(current_user.name),
        # What the agent has seen: the page's script announces only handoffs that arrive after this.
        waiting_ids=" ".join(str(c.id) for c in cases().inbox("waiting", current_user.name)),
    )


@bp.route("/api/inbox")
def inbox_json() -> ResponseReturnValue:
    view = request.args.get("view", "waiting")
    if view not in VIEWS:
        return jsonify(error=f"view must be one of {', '.join(VIEWS)}"), 400
    rows = cases().inbox(view, current_user.name)
    waiting = cases().inbox("waiting", current_user.name)
    return jsonify(
        view=view,
        counts=cases().counts(current_user.name),
        cases=[c.to_json() for c in rows],
        waiting_ids=[c.id for c in waiting],
    )


@bp.route("/handoffs/<int:handoff_id>")
def conversation(handoff_id: int) -> ResponseReturnValue:
    case = _case_or_404(handoff_id)
    query = request.args.get("q", "").strip()[:200]
    hits = search.search(query) if query else []
    reply = TextForm(prefix="reply")
    inserted = search.entry(request.args.get("insert", "")) if request.args.get("insert") else None
    if inserted is not None:
        reply.text.data = inserted.answer_sms if case.channel in TWILIO_CHANNELS else inserted.answer
    titles = {c["entry_id"]: _title(c["entry_id"]) for c in case.candidates}
    return render_template(
        "conversation.html",
        case=case,
        state=_state(case),
        titles=titles,
        reply=reply,
        note=TextForm(prefix="note"),
        action=ActionForm(),
        query=query,
        hits=hits,
        sms=case.channel in TWILIO_CHANNELS,
    )


def _title(entry_id: str) -> str:
    entry = search.entry(entry_id)
    return entry.title if entry else entry_id


@bp.route("/api/handoffs/<int:handoff_id>")
def conversation_json(handoff_id: int) -> ResponseReturnValue:
    return jsonify(_state(_case_or_404(handoff_id)))


def _back(handoff_id: int) -> ResponseReturnValue:
    return redirect(url_for("views.conversation", handoff_id=handoff_id), code=303)


@bp.route("/handoffs/<int:handoff_id>/claim", methods=["POST"])
@can_act
def claim(handoff_id: int) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        cases().claim(handoff_id, current_user.name)
    except CaseError as exc:
        flash(f"Not claimed: {exc}.", "error")
        return _back(handoff_id)
    flash("You have claimed this conversation: the traveler's next messages appear here.", "info")
    return _back(handoff_id)


def _held_by_me(handoff_id: int) -> Case:
    case = _case_or_404(handoff_id)
    if case.status != "claimed" or case.agent != current_user.name:
        abort(409, "claim this conversation before replying or resolving it")
    return case


@bp.route("/handoffs/<int:handoff_id>/reply", methods=["POST"])
@can_act
def reply(handoff_id: int) -> ResponseReturnValue:
    case = _held_by_me(handoff_id)
    form = TextForm(prefix="reply")
    if not form.validate_on_submit():
        flash(f"Not sent: write a reply of 1 to {MAX_REPLY_CHARS} characters.", "error")
        return _back(handoff_id)
    text = (form.text.data or "").strip()
    if opted_out(case, optouts()):
        flash("Not sent: this number texted STOP, so it must not be messaged.", "error")
        return _back(handoff_id)
    message_id = cases().add_message(case, "reply", current_user.name, text, "sending")
    delivery = deliver(case, text)
    cases().set_delivery(message_id, delivery.detail)
    try:
        rasa().record_agent_reply(case.conversation_id, current_user.name, text)
    except RasaApiError as exc:
        logger.error("reply %s to handoff %s not added to the tracker: %s", message_id, case.id, exc)
    flash(f"Reply {delivery.detail}.", "info" if delivery.ok else "error")
    return _back(handoff_id)


@bp.route("/handoffs/<int:handoff_id>/note", methods=["POST"])
@can_act
def note(handoff_id: int) -> ResponseReturnValue:
    case = _case_or_404(handoff_id)
    form = TextForm(prefix="note")
    if not form.validate_on_submit():
        flash(f"Note not saved: write 1 to {MAX_REPLY_CHARS} characters.", "error")
        return _back(handoff_id)
    cases().add_message(case, "note", current_user.name, (form.text.data or "").strip())
    flash("Note saved (only staff see it).", "info")
    return _back(handoff_id)


@bp.route("/handoffs/<int:handoff_id>/resolve", methods=["POST"])
@can_act
def resolve(handoff_id: int) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    case = _case_or_404(handoff_id)
    try:
        case = cases().resolve(handoff_id, current_user.name, any_agent=current_user.is_admin)
    except CaseError as exc:
        flash(f"Not resolved: {exc}.", "error")
        return _back(handoff_id)
    try:
        rasa().hand_back(case.conversation_id)
    except RasaApiError as exc:
        # The handoff is closed either way; say so, so the agent can retry from the resolved tab.
        logger.error("hand back of handoff %s failed: %s", case.id, exc)
        flash(f"Resolved, but the bot could not be resumed ({exc}): the traveler may get no answer.", "error")
        return _back(handoff_id)
    flash("Resolved: the bot answers this traveler again.", "info")
    return redirect(url_for("views.inbox"), code=303)


@bp.route("/handoffs/<int:handoff_id>/release", methods=["POST"])
@can_act
def release(handoff_id: int) -> ResponseReturnValue:
    if not current_user.is_admin:
        abort(403, "only an admin can release another agent's claim")
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        cases().release(handoff_id)
    except CaseError as exc:
        flash(f"Not released: {exc}.", "error")
    else:
        flash("Released: the conversation is waiting again.", "info")
    return _back(handoff_id)
