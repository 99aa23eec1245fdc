"""Session cookies that the pages' background polls never rewrite.

The console's session is permanent (it lasts ``console.session_hours``), and Flask re-sends a permanent
session's cookie with every response to slide its expiry. The inbox and conversation pages poll JSON
endpoints every few seconds. A poll sent just before a form post and answered just after it would put
back the cookie as it was before the post, and lose what the post stored in the session: its message
("Reply queued", lost this way once in the Chromium handoff test) or a fresh CSRF token. Responses to
the JSON endpoints under ``/api/`` therefore set the cookie only when they changed the session
themselves; every page load still slides the expiry.
"""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin


class PollSafeSessionInterface(SecureCookieSessionInterface):
    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        if "/api/" in request.path:
            return bool(session.modified)
        return super().should_set_cookie(app, session)
