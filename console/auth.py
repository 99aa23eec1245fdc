"""Login, logout and who may do what.

Flask-Login keeps the signed-in user in Flask's signed session cookie
(HttpOnly, SameSite=Lax, Secure when configured); Flask-WTF checks a CSRF token
on every POST, forms and JSON alike. Passwords are checked by
travelbot.users (argon2). Every endpoint but the login page and the static
files (the console's own public CSS/JS, no data) needs a signed-in user:
``guard`` runs before each request, so a route added later cannot forget it.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable, Optional, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from travelbot.users import User, UserStore

bp = Blueprint("auth", __name__)
PUBLIC_ENDPOINTS = frozenset({"auth.login", "static"})
F = TypeVar("F", bound=Callable[..., Any])


class LoginForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def users() -> UserStore:
    return cast(UserStore, current_app.extensions["travelbot_users"])


def init_auth(app: Flask, store: UserStore) -> None:
    app.extensions["travelbot_users"] = store
    manager = LoginManager()
    manager.session_protection = "strong"
    manager.login_view = "auth.login"

    @manager.user_loader
    def load(user_id: str) -> Optional[User]:
        user = store.get(int(user_id)) if user_id.isdigit() else None
        return user if user and user.active else None

    manager.init_app(app)
    app.before_request(guard)
    app.register_blueprint(bp)


def guard() -> Optional[ResponseReturnValue]:
    """Refuse anything but the login page and static files to a visitor who is not signed in."""
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    if request.path.startswith("/api/") or request.method != "GET":
        return jsonify(error="sign in first"), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def can_act(view: F) -> F:
    """Only agents and admins may change a conversation (editors read)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.can_act():
            abort(403, "your role (editor) can read conversations but not act on them")
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _safe_next(target: Optional[str]) -> str:
    """Only a path on this site (no open redirect to another host)."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("views.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        user = users().authenticate(form.name.data or "", form.password.data or "")
        if user is not None:
            session.clear()  # a fresh session on sign-in (no session fixation)
            session.permanent = True
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash("Wrong name or password.", "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
