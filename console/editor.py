"""The FAQ editor in the staff console (issue 6): list, search, create, edit, retire, preview, publish.

Editors change the corpus here without a developer, a retrain or a restart. A save is a draft (in the
database, see travelbot/drafts.py) and is refused, with the reason under each field, when the draft corpus
would fail `travelbot validate`. Preview asks the draft corpus a question; publish writes the drafts to the
corpus files and runs the same gated pipeline as `travelbot publish`, as the signed-in user. Only editors
and admins may use these pages (``can_edit``); every action is written to the audit log.
"""

from __future__ import annotations

import difflib
import re
from functools import wraps
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar, cast

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from console.editor_forms import GENERAL, ActionForm, EntryForm, blank, fill, parse, problem_errors, raw_entry
from console.editor_workspace import Workspace
from knowledge.corpus import CorpusError
from knowledge.entry_files import find_entry_file, render_entry
from knowledge.schema import ID_PATTERN, SMS_MAX_CHARS, Entry, slugify
from knowledge.validate import MAX_GRADE_SMS, MAX_GRADE_WEB, reading_grade
from travelbot import audit

bp = Blueprint("editor", __name__, url_prefix="/editor")
F = TypeVar("F", bound=Callable[..., Any])
EDIT_ROLES = ("editor", "admin")
GRADE_LIMITS = {"answer": MAX_GRADE_WEB, "answer_sms": MAX_GRADE_SMS}
_WORD = re.compile(r"[a-z0-9]+")


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    """register_blueprint(bp, settings=config): the workspace shares the console's database."""
    engine = state.app.extensions["travelbot_cases"].engine
    embedder = state.app.extensions["travelbot_embedder"]  # create_app's, loaded on first use
    state.app.extensions["travelbot_editor"] = Workspace(state.options["settings"], engine, embedder)


def workspace() -> Workspace:
    return cast(Workspace, current_app.extensions["travelbot_editor"])


def can_edit(view: F) -> F:
    """Only editors and admins may change the FAQ (agents answer travelers)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user.role not in EDIT_ROLES:
            abort(403, f"your role ({current_user.role}) cannot edit the FAQ")
        return view(*args, **kwargs)

    return cast(F, wrapper)


class PreviewForm(FlaskForm):
    question = StringField("Question", validators=[DataRequired(), Length(max=500)])


class PublishForm(FlaskForm):
    reason = TextAreaField("Why (recorded with the version)", validators=[DataRequired(), Length(max=1000)])
    override = TextAreaField("Override the gate: reason (admins only)", validators=[Length(max=1000)])


def _record(action: str, target: str = "", **detail: Any) -> None:
    workspace().audit.record(current_user.name, action, target, detail)


def _matches(entry: Entry, words: List[str]) -> bool:
    text = " ".join([entry.id, entry.title, *entry.phrasings, *entry.aliases]).lower()
    found = set(_WORD.findall(text))
    return all(any(w.startswith(word) for w in found) for word in words)


@bp.route("/")
@can_edit
def entries() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()[:200]
    show = request.args.get("show", "all")
    drafts = {d.entry_id: d for d in workspace().drafts.all()}
    try:
        files = workspace().files()
    except CorpusError as exc:
        return render_template("editor_list.html", rows=[], query=query, show=show, broken=exc.problems)
    words = _WORD.findall(query.lower())
    rows = []
    for entry_id in sorted(set(files.by_id) | set(drafts)):
        draft = drafts.get(entry_id)
        entry = draft.entry if draft and draft.entry else files.by_id.get(entry_id)
        if entry is None:
            continue  # a retirement draft of an entry whose file is gone already
        state = "" if draft is None else "retire" if draft.retires else "edit" if entry_id in files else "new"
        if (show == "drafts" and not draft) or (show == "review" and not entry.needs_review):
            continue
        if words and not _matches(entry, words):
            continue
        rows.append({"entry": entry, "draft": state})
    return render_template("editor_list.html", rows=rows, query=query, show=show, broken=[])


def _entry_page(
    form: EntryForm, entry_id: Optional[str], errors: Dict[str, List[str]], status: int = 200
) -> Tuple[str, int]:
    draft = workspace().drafts.get(entry_id) if entry_id else None
    page = render_template(
        "editor_entry.html",
        form=form,
        entry_id=entry_id,
        errors=errors,
        draft=draft,
        has_file=bool(entry_id) and entry_id in workspace().files(),
        action=ActionForm(),
        limits={"answer": MAX_GRADE_WEB, "answer_sms": MAX_GRADE_SMS, "sms_chars": SMS_MAX_CHARS},
    )
    return page, status


def _save(form: EntryForm, entry_id: str, is_new: bool) -> ResponseReturnValue:
    """Validate the form against the draft corpus; save it as a draft, or show why not."""
    entry, errors = parse(raw_entry(form, entry_id))
    if entry is None:
        return _entry_page(form, None if is_new else entry_id, errors, 422)
    errors = problem_errors(workspace().problems(entry.id, entry), entry.id)
    if errors:
        return _entry_page(form, None if is_new else entry_id, errors, 422)
    workspace().drafts.save(entry, current_user.name)
    _record(audit.DRAFT_SAVED, entry.id, change="new" if is_new else "edit")
    flash(f"Draft of {entry.id} saved. It goes live when you publish.", "info")
    return redirect(url_for("editor.edit", entry_id=entry.id), code=303)


@bp.route("/new", methods=["GET", "POST"])
@can_edit
def new() -> ResponseReturnValue:
    form = EntryForm()
    if request.method == "GET":
        blank(form, request.args.getlist("phrasing"))
        return _entry_page(form, None, {})
    if not form.validate_on_submit():
        return _invalid(form, None)
    entry_id = (form.id.data or "").strip() or slugify(form.title.data or "")
    if entry_id in workspace().draft_corpus() or workspace().drafts.get(entry_id):
        return _entry_page(form, None, {"id": [f"{entry_id} exists already: edit it instead"]}, 422)
    return _save(form, entry_id, is_new=True)


def _invalid(form: EntryForm, entry_id: Optional[str]) -> ResponseReturnValue:
    if form.csrf_token.errors:
        abort(400, "the form expired or did not come from this site; reload the page and try again")
    errors = {name: list(messages) for name, messages in form.errors.items()}
    return _entry_page(form, entry_id, errors, 422)


def _current(entry_id: str) -> Entry:
    """The entry as the editor last left it: the draft, else the file (404 if neither)."""
    if not ID_PATTERN.match(entry_id):
        abort(404)
    draft = workspace().drafts.get(entry_id)
    if draft is not None and draft.entry is not None:
        return draft.entry
    entry = workspace().files().by_id.get(entry_id)
    if entry is None:
        abort(404, f"no entry {entry_id}")
    return entry


@bp.route("/entries/<entry_id>", methods=["GET", "POST"])
@can_edit
def edit(entry_id: str) -> ResponseReturnValue:
    entry = _current(entry_id)
    form = EntryForm()
    if request.method == "GET":
        fill(form, entry, request.args.getlist("add_phrasing"))
        return _entry_page(form, entry_id, {})
    if not form.validate_on_submit():
        return _invalid(form, entry_id)
    return _save(form, entry_id, is_new=False)


@bp.route("/entries/<entry_id>/retire", methods=["POST"])
@can_edit
def retire(entry_id: str) -> ResponseReturnValue:
    entry = _current(entry_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    errors = problem_errors(workspace().problems(entry_id, None), entry_id)
    if errors:
        form = EntryForm(formdata=None)
        fill(form, entry)
        why = [
            f"Not retired: {message}" if name == GENERAL else f"Not retired: {name}: {message}"
            for name, items in errors.items()
            for message in items
        ]
        return _entry_page(form, entry_id, {GENERAL: why}, 422)
    workspace().drafts.retire(entry_id, current_user.name)
    _record(audit.DRAFT_SAVED, entry_id, change="retire")
    flash(f"{entry_id} will be retired (its file removed) when you publish.", "info")
    return redirect(url_for("editor.entries", show="drafts"), code=303)


@bp.route("/entries/<entry_id>/discard", methods=["POST"])
@can_edit
def discard(entry_id: str) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    if workspace().drafts.discard(entry_id):
        _record(audit.DRAFT_DISCARDED, entry_id)
        flash(f"Draft of {entry_id} discarded.", "info")
    if entry_id in workspace().files():
        return redirect(url_for("editor.edit", entry_id=entry_id), code=303)
    return redirect(url_for("editor.entries"), code=303)


@bp.route("/api/readability", methods=["POST"])
@can_edit
def readability() -> ResponseReturnValue:
    """The live score while typing: the validator's reading grade and limit for one answer field."""
    body = request.get_json(silent=True) or {}
    name, text = body.get("field"), body.get("text")
    if name not in GRADE_LIMITS or not isinstance(text, str):
        return jsonify(error="send {field: answer|answer_sms, text}"), 400
    grade, limit = reading_grade(text), GRADE_LIMITS[name]
    reply: Dict[str, Any] = {"field": name, "grade": round(grade, 1), "limit": limit, "ok": grade <= limit}
    if name == "answer_sms":
        reply.update(chars=len(text.strip()), max_chars=SMS_MAX_CHARS)
    return jsonify(reply)


@bp.route("/preview", methods=["GET", "POST"])
@can_edit
def preview() -> ResponseReturnValue:
    form = PreviewForm()
    result = None
    if request.method == "POST":
        if not form.validate_on_submit():
            if form.csrf_token.errors:
                abort(400)
            return render_template("editor_preview.html", form=form, result=None), 422
        question = (form.question.data or "").strip()
        result = workspace().preview(question)
        outcome = result.outcome
        _record(
            audit.PREVIEWED,
            outcome.entry_id or "",
            question=question,
            decision=outcome.decision.value,
            score=round(outcome.score, 4),
            drafts=[d.entry_id for d in workspace().drafts.all()],
        )
    return render_template("editor_preview.html", form=form, result=result)


def _diff(entry_id: str, entry: Optional[Entry]) -> str:
    """The change a draft makes to its file, as the reviewer of the git history will see it."""
    corpus_dir = workspace().corpus_dir
    path = find_entry_file(corpus_dir, entry_id)
    before = path.read_text(encoding="utf-8") if path else ""
    after = render_entry(entry, before or None) if entry else ""
    name = str(path.relative_to(corpus_dir)) if path else f"{entry_id}.yml"
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
    )
    return "".join(lines)


def _publish_page(
    form: PublishForm, lines: List[str], headline: str = "", ok: bool = True, status: int = 200
) -> Tuple[str, int]:
    drafts = workspace().drafts.all()
    diffs = {d.entry_id: _diff(d.entry_id, d.entry) for d in drafts}
    page = render_template(
        "editor_publish.html", form=form, drafts=drafts, diffs=diffs, lines=lines, headline=headline, ok=ok
    )
    return page, status


@bp.route("/publish", methods=["GET", "POST"])
@can_edit
def publish() -> ResponseReturnValue:
    form = PublishForm()
    if request.method == "GET":
        return _publish_page(form, [])
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _publish_page(
            form, [], "Not published: say why (it is recorded with the version).", False, 422
        )
    override = (form.override.data or "").strip() or None
    if override is not None and not current_user.is_admin:
        abort(403, "only an admin can override the publication gate")
    reason = (form.reason.data or "").strip()
    done = workspace().publish(current_user.name, reason, override)
    result, entry_ids = done.result, [d.entry_id for d in done.drafts]
    if not result.ok:
        _record(audit.PUBLISH_REFUSED, "", reason=reason, drafts=entry_ids, lines=result.lines[:50])
        return _publish_page(
            form, result.lines, "Not published: nothing changed, the drafts are kept.", False, 409
        )
    _record(audit.PUBLISHED, "", reason=reason, drafts=entry_ids, version=result.version, gate=result.gate)
    if result.gate == "overridden":
        _record(audit.OVERRIDE_USED, "", reason=override, version=result.version)
    headline = f"Published version {result.version}." if result.version else "Nothing new to publish."
    return _publish_page(PublishForm(formdata=None), result.lines, headline)


@bp.route("/audit")
@can_edit
def audit_log() -> ResponseReturnValue:
    actor = request.args.get("actor") or None
    return render_template("editor_audit.html", events=workspace().audit.recent(200, actor), actor=actor)
