"""Publication history in the staff console: every version, its diff, and a one-step rollback.

Editors and admins only (agents answer travelers; they do not change the corpus). A rollback is a publication
like any other (travelbot/rollback.py): gated, recorded, a new version number; when the gate refuses, the page
shows the gate's lines and the corpus files stay as they were. Only an admin may override the gate.

The settings come with the blueprint's registration (``app.register_blueprint(bp, settings=config)``);
the embedding model is loaded once per console process, on the first rollback.
"""

from __future__ import annotations

from typing import List, Optional, cast

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length
from wtforms.validators import Optional as Omitted

from knowledge.embedder import Embedder
from knowledge.publish import read_marker
from travelbot.handoffs import HandoffStore
from travelbot.history import version_diff
from travelbot.publications import Publication, PublicationStore
from travelbot.rollback import rollback
from travelbot.settings import Settings

bp = Blueprint("history", __name__, url_prefix="/history")
ROLES = ("editor", "admin")
MAX_REASON_CHARS = 500


class RollbackForm(FlaskForm):
    reason = StringField("Why roll back", validators=[DataRequired(), Length(max=MAX_REASON_CHARS)])
    override = StringField(
        "Override the gate, because (admins only)", validators=[Omitted(), Length(max=MAX_REASON_CHARS)]
    )


@bp.record_once
def _keep_settings(state: BlueprintSetupState) -> None:
    state.app.extensions["travelbot_settings"] = state.options["settings"]


def config() -> Settings:
    return cast(Settings, current_app.extensions["travelbot_settings"])


def publications() -> PublicationStore:
    store = current_app.extensions.get("travelbot_publications")
    if store is None:
        store = PublicationStore(HandoffStore(config().storage.url()).engine)
        current_app.extensions["travelbot_publications"] = store
    return cast(PublicationStore, store)


def embedder() -> Embedder:
    return cast(Embedder, current_app.extensions["travelbot_embedder"])


@bp.before_request
def editors_only() -> None:
    """Runs after console.auth.guard, so the visitor is signed in."""
    if current_user.role not in ROLES:
        abort(403, "only editors and admins see the publication history")


def _live_version() -> Optional[int]:
    marker = read_marker(config().index_path())
    return marker.version if marker else None


@bp.route("/")
def versions() -> ResponseReturnValue:
    rows: List[Publication] = sorted(publications().all(), key=lambda p: p.version, reverse=True)
    return render_template("history_list.html", publications=rows, live=_live_version())


def _version_page(version: int, form: RollbackForm, refused: Optional[List[str]] = None) -> str:
    try:
        diff = version_diff(config().index_path(), version, config().corpus_path())
    except (OSError, ValueError):
        abort(404, f"no published version {version} is kept")
    recorded = [p for p in publications().all() if p.version == version]
    return render_template(
        "history_version.html",
        diff=diff,
        publication=recorded[-1] if recorded else None,
        live=_live_version(),
        form=form,
        refused=refused or [],
    )


@bp.route("/<int:version>")
def version_page(version: int) -> ResponseReturnValue:
    return _version_page(version, RollbackForm())


@bp.route("/<int:version>/rollback", methods=["POST"])
def roll_back(version: int) -> ResponseReturnValue:
    form = RollbackForm()
    if not form.validate_on_submit():
        flash(f"Not rolled back: give a reason of 1 to {MAX_REASON_CHARS} characters.", "error")
        return _version_page(version, form), 400
    override = (form.override.data or "").strip() or None
    if override and not current_user.is_admin:
        abort(403, "only an admin may override the gate")
    result = rollback(
        config(),
        version,
        form.reason.data or "",
        override,
        embedder=embedder(),
        author=current_user.name,
    )
    if not result.ok:
        return _version_page(version, form, result.lines), 409
    said = result.lines[-1] if result.version else "; ".join(result.lines)
    flash(f"Rollback to version {version}: {said}.", "info")
    return redirect(url_for("history.versions"), code=303)
