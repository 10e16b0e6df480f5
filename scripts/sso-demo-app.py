#!/usr/bin/env python3
"""A tiny app that signs its users in through Tether's SSO login (SPEC §17).

Python's standard library only; `scripts/dev-sso.sh` starts it:

    SSO_DEMO_API_KEY=tk_... scripts/sso-demo-app.py --port 9200 \\
        --api http://127.0.0.1:9000 --provider <identity provider id>

  /          a "Sign in with SSO" link to Tether's authorize URL, with a fresh
             random `state` (kept in a cookie, checked on return) and a PKCE
             challenge (its verifier kept here, sent with the code)
  /callback  where Tether sends the browser back: checks `state`, exchanges
             the `code` at POST /v1/sso/token with the app's API key, calls
             GET /v1/me with the access token, and shows who signed in — or
             the `error` and `error_description` Tether returned

Every value shown comes from elsewhere and is escaped (html.escape).
"""

import argparse
import base64
import hashlib
import hmac
import html
import json
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http import cookies
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE_COOKIE = "sso_demo_state"
ATTEMPT_SECONDS = 600  # Tether's own login attempts last 10 minutes

# Outbound calls to Tether never go through a proxy (it is on loopback).
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · Tether SSO demo</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}
dt{{font-weight:600}}dd{{margin:0 0 .5rem 1rem;font-family:monospace}}
pre{{background:#f4f4f4;padding:.75rem;overflow:auto}}.error{{color:#b00020}}
a.button{{display:inline-block;padding:.6rem 1rem;background:#2f6fed;color:#fff;border-radius:4px;text-decoration:none}}</style>
</head><body>
<h1>{title}</h1>
{body}
</body></html>
"""


def esc(value):
    return html.escape("" if value is None else str(value), quote=True)


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Pending:
    """The sign-ins this app started: state -> (PKCE verifier, deadline)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._attempts = {}

    def start(self):
        state, verifier = b64url(secrets.token_bytes(24)), b64url(secrets.token_bytes(32))
        now = time.monotonic()
        with self._lock:
            self._attempts = {s: a for s, a in self._attempts.items() if a[1] > now}
            self._attempts[state] = (verifier, now + ATTEMPT_SECONDS)
        return state, verifier

    def finish(self, state):
        """The verifier of `state`, once: None if unknown, used or expired."""
        with self._lock:
            attempt = self._attempts.pop(state, None)
        if attempt is None or attempt[1] <= time.monotonic():
            return None
        return attempt[0]


def call(method, url, headers, body=None):
    """(status, parsed JSON or text) of one request to Tether."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(request, timeout=15) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    except OSError as err:
        return 0, f"{url}: {err}"
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def definition_list(pairs, element_id):
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs)
    return f'<dl id="{esc(element_id)}">{rows}</dl>'


class App(BaseHTTPRequestHandler):
    server_version = "TetherSsoDemo/1"
    config = None  # set in main()
    pending = Pending()

    def log_message(self, format, *args):
        # The path only: a callback's query holds a one-time code.
        sys.stderr.write(f"{self.log_date_time_string()} {self.command} "
                         f"{urllib.parse.urlsplit(self.path).path} {args[1] if len(args) > 1 else ''}\n")

    def send_page(self, status, title, body, cookie=None):
        page = PAGE.format(title=esc(title), body=body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(page)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/":
            self.home()
        elif url.path == "/callback":
            self.callback(urllib.parse.parse_qs(url.query))
        else:
            self.send_page(404, "Not found", "<p>Nothing here. <a href=\"/\">Start again</a>.</p>")

    def home(self):
        cfg = self.config
        state, verifier = self.pending.start()
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        query = urllib.parse.urlencode({
            "identity_provider_id": cfg.provider,
            "redirect_uri": cfg.redirect_uri,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        })
        authorize = f"{cfg.api}/v1/sso/authorize?{query}"
        cookie = (f"{STATE_COOKIE}={state}; Path=/; Max-Age={ATTEMPT_SECONDS}; "
                  "HttpOnly; SameSite=Lax")
        body = (
            "<p>This app knows nobody: it signs people in through Tether, "
            "which sends them to the organization's identity provider.</p>"
            f'<p><a id="sso" class="button" href="{esc(authorize)}">Sign in with SSO</a></p>'
            "<p>At the local provider any login name signs in with any password "
            "(it becomes <code>&lt;login&gt;@example.com</code>).</p>"
        )
        self.send_page(200, "Tether SSO demo", body, cookie)

    def callback(self, query):
        cfg = self.config
        one = lambda name: (query.get(name) or [None])[0]  # noqa: E731
        state = one("state") or ""
        jar = cookies.SimpleCookie(self.headers.get("Cookie") or "")
        remembered = jar[STATE_COOKIE].value if STATE_COOKIE in jar else ""
        clear = f"{STATE_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        again = '<p><a href="/">Start again</a></p>'
        if not state or not remembered or not hmac.compare_digest(state.encode(), remembered.encode()):
            self.send_page(400, "Sign-in refused",
                           '<p class="error" id="error">The <code>state</code> does not match '
                           "the one this browser started with.</p>" + again, clear)
            return
        verifier = self.pending.finish(state)
        if verifier is None:
            self.send_page(400, "Sign-in refused",
                           '<p class="error" id="error">This sign-in is unknown, used or expired.</p>'
                           + again, clear)
            return
        if one("error"):
            body = ('<p class="error">Tether reports that the sign-in failed.</p>'
                    + definition_list([("error", one("error")),
                                       ("error_description", one("error_description"))], "error")
                    + again)
            self.send_page(400, "Sign-in failed", body, clear)
            return
        code = one("code")
        if not code:
            self.send_page(400, "Sign-in failed",
                           '<p class="error" id="error">No <code>code</code> came back.</p>' + again, clear)
            return

        status, token = call("POST", f"{cfg.api}/v1/sso/token",
                             {"X-API-Key": cfg.api_key},
                             {"code": code, "code_verifier": verifier})
        if status != 200 or not isinstance(token, dict):
            body = (f'<p class="error" id="error">POST /v1/sso/token answered {esc(status)}.</p>'
                    f"<pre>{esc(json.dumps(token, indent=2) if isinstance(token, dict) else token)}</pre>"
                    + again)
            self.send_page(502, "Sign-in failed", body, clear)
            return

        profile = token.get("profile") or {}
        user = token.get("end_user") or {}
        identity = token.get("identity") or {}
        me_status, me = call("GET", f"{cfg.api}/v1/me",
                             {"Authorization": f"Bearer {token.get('access_token', '')}"})
        access = token.get("access_token") or ""
        body = (
            f"<p>Welcome, <strong>{esc(profile.get('name') or profile.get('email') or profile.get('sub'))}</strong>.</p>"
            "<h2>The provider's profile</h2>"
            + definition_list([(k, profile.get(k)) for k in
                               ("issuer", "sub", "email", "email_verified", "name", "preferred_username")],
                              "profile")
            + "<h2>The end user in Tether</h2>"
            + definition_list([(k, user.get(k)) for k in
                               ("id", "email", "display_name", "status", "created_at")], "end-user")
            + "<h2>The linked identity</h2>"
            + definition_list([(k, identity.get(k)) for k in
                               ("id", "identity_provider_id", "external_id", "external_email")], "identity")
            + "<h2>The access token</h2>"
            + definition_list([("token_type", token.get("token_type")),
                               ("expires_in", token.get("expires_in")),
                               ("access_token", f"{access[:24]}… ({len(access)} characters)")], "token")
            + f"<p>GET /v1/me with it answered {esc(me_status)}:</p>"
            + f'<pre id="me">{esc(json.dumps(me, indent=2) if isinstance(me, dict) else me)}</pre>'
            + again
        )
        self.send_page(200, "Signed in", body, clear)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--api", default="http://127.0.0.1:9000", help="Tether's base URL")
    parser.add_argument("--provider", required=True, help="the login connection's identity provider id")
    cfg = parser.parse_args()
    cfg.api = cfg.api.rstrip("/")
    cfg.api_key = os.environ.get("SSO_DEMO_API_KEY", "")
    if not cfg.api_key:
        parser.error("SSO_DEMO_API_KEY must hold an API key of the organization (read_write)")
    cfg.redirect_uri = f"http://127.0.0.1:{cfg.port}/callback"
    App.config = cfg
    server = ThreadingHTTPServer(("127.0.0.1", cfg.port), App)
    print(f"listening http://127.0.0.1:{cfg.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
