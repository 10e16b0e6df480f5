"""The admin portal (SPEC §19) in a real browser: Playwright for Python
driving the machine's Chromium (Debian's /usr/bin/chromium, headless; never a
browser of Playwright's own), against the whole local stack that
scripts/portal-browser.sh starts.

    .venv-browser/bin/python tests/portal/browser.py --base http://127.0.0.1:9134 \\
        --api-key tk_… [--screenshots DIR] [--issuer URL --client-id ID \\
        --client-secret SECRET --client-auth METHOD --login NAME]

The --issuer options name the local OpenID Provider (tests/oidc/server.mjs,
panva's oidc-provider) that scripts/portal-browser.sh starts, for the SSO
view to register as the organization's connection. Its login form asks for
`login` and `password` (any password signs in) and its consent form has one
button, Continue; both are the provider's own pages, filled in by
`provider_sign_in`. It knows Tether's shared callback (<base>/v1/sso/callback)
from the start; a connection's own callback (<base>/v1/sso/callback/<id>)
is registered with `register_redirect_uri` once the portal shows it.

An IT admin's whole visit, by the page's labels and roles (what a screen
reader announces), with the keyboard where a person would use it: the link
opens; the SSO view registers the provider and its test sign-in ends at the
provider's profile; the Directory view creates a directory whose token works
once shown and whose SCIM requests then show; the Webhooks view adds an
endpoint (a receiver here verifies the delivery with the Standard Webhooks
library), sends a test and shows its attempt; the Events view filters by
type; the Usage view draws its chart. The same link opened again fails, and
another organization's ids in the URL are 404. Every portal response is
checked for its security headers, every page for its size, and every
request off loopback is refused (the portal loads nothing from elsewhere).
Prints a line per step and a table of each view's size and time; exits 0
when every step passed, else 1.
"""

import argparse
import http.server
import threading
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


class Failed(Exception):
    """A step that did not pass: its message says what came back."""


def step(message):
    print(f"==> {time.strftime('%H:%M:%S')} {message}", flush=True)


def api(base, key, method, path, body=None, timeout=60):
    """One call to Tether's API with the admin key: (status, parsed JSON or text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "X-API-Key": key, "Content-Type": "application/json", "Accept": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as res:
            status, text = res.status, res.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode(errors="replace")
    except OSError as err:
        raise Failed(f"{method} {path}: no answer ({err})") from err
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def register_redirect_uri(issuer, redirect_uri):
    """Registers one more redirect URI with every client of the local provider
    (tests/oidc/server.mjs: POST /_register?redirect_uri=…, 204)."""
    url = f"{issuer}/_register?" + urllib.parse.urlencode({"redirect_uri": redirect_uri})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, data=b"", method="POST"), timeout=30) as res:
            status = res.status
    except urllib.error.HTTPError as err:
        status = err.code
    except OSError as err:
        raise Failed(f"the provider at {issuer} did not answer ({err})") from err
    if status != 204:
        raise Failed(f"the provider did not register {redirect_uri} as a redirect URI ({status})")


def provider_sign_in(page, login):
    """On the provider's own pages (oidc-provider's devInteractions): its login
    form (`login`, `password`: any password) and, when asked, its consent
    form (one button, Continue). Returns once the browser has left them."""
    page.wait_for_selector('form input[name="login"]')
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', "any password")
    page.click('button[type="submit"]')
    page.wait_for_load_state()
    if page.locator('input[name="prompt"][value="consent"]').count():
        page.click('button[type="submit"]')
        page.wait_for_load_state()


class Browser:
    """A headless Chromium page, its screenshots, and what went wrong in it:
    console errors, uncaught exceptions and requests off loopback, each kept
    with the URL of the page it happened on (the provider's own pages load
    a web font from elsewhere: `problems(origin)` reads one site's)."""

    def __init__(self, playwright, screenshots):
        # chromium_sandbox=False (Playwright's default, said here): it passes
        # --no-sandbox, which Chromium needs when run as root, as CI is.
        self.browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, chromium_sandbox=False)
        self.context = self.browser.new_context(viewport={"width": 1280, "height": 800})
        self.context.set_default_timeout(30_000)
        self.context.route("**/*", self._only_loopback)
        self.page = self.context.new_page()
        self.screenshots = screenshots
        self.seen = []  # (the page's URL, what went wrong)
        self.page.on("console", lambda m: m.type == "error" and self.seen.append((self.page.url, f"console: {m.text}")))
        self.page.on("pageerror", lambda e: self.seen.append((self.page.url, f"uncaught: {e}")))

    def _only_loopback(self, route):
        url = route.request.url
        host = urllib.parse.urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:", "about:")) or host in LOOPBACK:
            route.continue_()
        else:
            self.seen.append((route.request.frame.url, f"asked for {url}, off loopback (refused)"))
            route.abort("blockedbyclient")

    def problems(self, origin):
        """What went wrong on the pages under origin (scheme://host:port)."""
        return [what for page, what in self.seen if page == origin or page.startswith(origin + "/")]

    def open(self, url):
        """Opens url; fails on no answer or an HTTP error status."""
        try:
            response = self.page.goto(url, wait_until="load")
        except PlaywrightError as err:
            raise Failed(f"the browser could not open {url}: {err.message.splitlines()[0]}") from err
        if response is None or response.status >= 400:
            status = "no response" if response is None else response.status
            body = self.page.inner_text("body")[:500] if response is not None else ""
            raise Failed(f"{url} answered {status}: {body}")
        return response

    def screenshot(self, view):
        """The whole page as DIR/<view>.png, when --screenshots DIR is given."""
        if not self.screenshots:
            return None
        os.makedirs(self.screenshots, exist_ok=True)
        path = os.path.join(self.screenshots, f"{view}.png")
        self.page.screenshot(path=path, full_page=True)
        print(f"    screenshot: {path}", flush=True)
        return path

    def close(self):
        self.context.close()
        self.browser.close()


def mint_link(args, key=None, intent="all"):
    """POST /v1/portal-links: 201 with url and expires_at."""
    body = {"intent": intent, "return_url": "https://app.example.com/settings"}
    status, link = api(args.base, key or args.api_key, "POST", "/v1/portal-links", body)
    if status != 201:
        raise Failed(f"POST /v1/portal-links answered {status}, not 201: {link}")
    if not isinstance(link, dict) or not {"url", "expires_at"} <= link.keys():
        raise Failed(f"POST /v1/portal-links: no url and expires_at in {link}")
    if not link["url"].startswith(args.base + "/"):
        raise Failed(f"the link {link['url']} is not on the local stack ({args.base})")
    return link


# What every portal response carries (SPEC §19), checked on each view.
REQUIRED_HEADERS = {
    "content-security-policy": ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"],
    "x-frame-options": ["DENY"],
    "referrer-policy": ["same-origin"],
    "cache-control": ["no-store"],
    "x-content-type-options": ["nosniff"],
}


def check_headers(response, what):
    headers = response.headers
    for name, parts in REQUIRED_HEADERS.items():
        value = headers.get(name, "")
        for part in parts:
            if part not in value:
                raise Failed(f"{what}: {name} is {value!r}, without {part!r}")
    if "unsafe-inline" in headers.get("content-security-policy", ""):
        raise Failed(f"{what}: the CSP allows inline script or style")


class Receiver:
    """A webhook endpoint on loopback that verifies each delivery with the
    Standard Webhooks reference library and answers 204."""

    def __init__(self):
        self.secret = None
        self.verified = []
        self.refused = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    receiver.verified.append(Webhook(receiver.secret).verify(body, dict(self.headers)))
                    self.send_response(204)
                except (WebhookVerificationError, TypeError, ValueError) as err:
                    receiver.refused.append(str(err))
                    self.send_response(400)
                self.end_headers()

            def log_message(self, *_):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tether"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


class Visit:
    """The IT admin's visit: the browser, the checks on every view, and what
    each view weighed and took."""

    def __init__(self, args, browser):
        self.args = args
        self.browser = browser
        self.page = browser.page
        self.figures = []  # (view, bytes of HTML, total bytes with assets, ms)

    def view(self, path, name):
        """Opens a view by its navigation link (as a person would), checks its
        headers and weight, and keeps a screenshot."""
        started = time.monotonic()
        with self.page.expect_response(lambda r: urllib.parse.urlsplit(r.url).path == path) as waited:
            self.page.get_by_role("navigation", name="Portal").get_by_role("link", name=name).click()
        response = waited.value
        self.page.wait_for_load_state("load")
        elapsed = (time.monotonic() - started) * 1000
        if response.status != 200:
            raise Failed(f"{path} answered {response.status}: {self.page.inner_text('body')[:300]}")
        check_headers(response, path)
        self.weigh(path, response, elapsed)
        if self.page.locator('nav[aria-label="Portal"] a[aria-current="page"]').inner_text() != name:
            raise Failed(f"{path}: the navigation does not mark {name!r} as the current page")
        if self.page.locator("h1").inner_text() != name:
            raise Failed(f"{path}: its heading is not {name!r}")
        return response

    def weigh(self, path, response, elapsed):
        html = len(response.body())
        assets = self.page.evaluate(
            "() => performance.getEntriesByType('resource').reduce((n, e) => n + (e.decodedBodySize || 0), 0)")
        total = html + int(assets)
        if total > 200 * 1024:
            raise Failed(f"{path} weighs {total} bytes with its assets: over 200 KB")
        self.figures.append((path, html, total, elapsed))

    def submit(self, button):
        """Sends the form of `button` (its accessible name), as a click does;
        returns the response of the POST."""
        with self.page.expect_response(lambda r: r.request.method == "POST") as waited:
            self.page.get_by_role("button", name=button).click()
        self.page.wait_for_load_state("load")
        response = waited.value
        check_headers(response, f"POST {urllib.parse.urlsplit(response.url).path}")
        return response

    def expect_text(self, text, what):
        if text not in self.page.inner_text("main"):
            raise Failed(f"{what}: {text!r} is not on the page:\n{self.page.inner_text('main')[:800]}")


def scim(url, token, method, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=60) as res:
            return res.status
    except urllib.error.HTTPError as err:
        return err.code


def visit(args, browser, receiver):
    page = browser.page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    v = Visit(args, browser)

    step("the app registers a provider named <script>…</script> through the API (escaping)")
    hostile = "<script>alert('portal')</script>"
    status, _ = api(args.base, args.api_key, "POST", "/v1/identity-providers", {
        "name": hostile, "issuer": args.issuer, "client_id": "not-a-login"})
    if status != 201:
        raise Failed(f"POST /v1/identity-providers answered {status}")

    step("minting a link (POST /v1/portal-links) and opening it")
    link = mint_link(args)
    response = browser.open(link["url"])
    check_headers(response, "the first view")
    if urllib.parse.urlsplit(page.url).path != "/portal/sso":
        raise Failed(f"the link led to {page.url}, not /portal/sso")
    v.weigh("/portal/sso", response, 0)

    step("keyboard: the first Tab reaches the skip link, which moves focus to the content")
    page.keyboard.press("Tab")
    if page.evaluate("document.activeElement.textContent.trim()") != "Skip to content":
        raise Failed("the first Tab does not reach 'Skip to content'")
    page.keyboard.press("Enter")
    if page.evaluate("document.activeElement.id") != "main":
        raise Failed("'Skip to content' does not move focus to the main content")

    step("SSO: the hostile provider's name shows as text, and no script ran")
    v.expect_text(hostile, "the SSO view")
    if dialogs:
        raise Failed(f"a dialog opened: {dialogs}")

    step("SSO: registering the provider by its labels (issuer, client, secret, redirect URIs, provisioning)")
    page.get_by_label("Name").fill("Local OpenID Provider")
    page.get_by_label("Issuer URL").fill(args.issuer)
    page.get_by_label("Client ID").fill(args.client_id)
    page.get_by_label("Client secret").fill(args.client_secret)
    page.get_by_label("Client authentication").select_option(args.client_auth)
    page.get_by_label("App redirect URIs").fill("https://app.example.com/callback")
    page.get_by_label("Provisioning").select_option("create")
    response = v.submit("Register provider")
    if response.status != 200:
        raise Failed(f"registering answered {response.status}: {page.inner_text('main')[:600]}")
    v.expect_text("Registered Local OpenID Provider", "the SSO view after registering")
    callback = page.locator("code[data-copy='the callback URL']").first.inner_text()
    if not callback.startswith(args.base + "/v1/sso/callback/"):
        raise Failed(f"the callback shown is {callback!r}")
    register_redirect_uri(args.issuer, callback)
    browser.screenshot("sso")

    step("SSO: test sign-in through the provider's own login, back to the profile it sent")
    page.get_by_role("link", name="Test sign-in with Local OpenID Provider").click()
    provider_sign_in(page, args.login)
    page.wait_for_selector("h1")
    if page.locator("h1").inner_text() != "Test sign-in succeeded":
        raise Failed(f"the test sign-in ended at {page.url}: {page.inner_text('main')[:600]}")
    details = page.inner_text("#details")
    if args.login not in details or args.issuer not in details:
        raise Failed(f"the profile does not show the subject and issuer: {details}")
    browser.screenshot("sso-test")
    page.get_by_role("link", name="Back to the portal").click()
    page.wait_for_load_state("load")

    step("Directory: creating a directory with the keyboard only")
    v.view("/portal/directory", "Directory sync")
    page.get_by_label("Name").focus()
    page.keyboard.type("Okta employees")
    with page.expect_response(lambda r: r.request.method == "POST") as waited:
        page.keyboard.press("Enter")
    page.wait_for_load_state("load")
    check_headers(waited.value, "POST /portal/directory")
    token = page.locator("#revealed-secret").inner_text().strip()
    base_url = page.locator("code[data-copy='the SCIM base URL']").first.inner_text().strip()
    if not token.startswith("scim_") or not base_url.startswith(args.base + "/scim/v2/"):
        raise Failed(f"no token or SCIM URL shown: {token[:8]}…, {base_url}")

    step("Directory: the identity provider connects; its requests show with their outcome")
    user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "grace@example.com",
            "name": {"givenName": "Grace", "familyName": "Hopper"}, "active": True}
    created = scim(base_url + "/Users", token, "POST", user)
    again = scim(base_url + "/Users", token, "POST", user)
    if (created, again) != (201, 409):
        raise Failed(f"SCIM POST /Users answered {created} then {again}, not 201 then 409")
    v.view("/portal/directory", "Directory sync")
    requests = page.locator("section.card table").first.inner_text()
    if "POST /scim/v2/" not in requests or "201" not in requests or "409 uniqueness" not in requests:
        raise Failed(f"the latest SCIM requests do not show both: {requests}")
    if token in page.content():
        raise Failed("the SCIM token shows again")
    browser.screenshot("directory")

    step("Webhooks: adding an endpoint; its secret once; a test delivery verified by the receiver")
    v.view("/portal/webhooks", "Webhooks")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Description").fill("Ops")
    # One event type (nobody is created from here on): the ping alone arrives.
    page.get_by_text("Event types (all when none is chosen)").click()
    page.get_by_label("end_user.created", exact=True).check()
    v.submit("Add endpoint")
    receiver.secret = page.locator("#revealed-secret").inner_text().strip()
    if not receiver.secret.startswith("whsec_"):
        raise Failed(f"no signing secret shown: {receiver.secret[:8]}…")
    page.get_by_role("link", name=f"Deliveries of {receiver.url}").click()
    page.wait_for_load_state("load")
    v.submit(f"Send test to {receiver.url}")
    deadline = time.monotonic() + 60
    while not receiver.verified and time.monotonic() < deadline:
        time.sleep(0.25)
    if not receiver.verified:
        raise Failed(f"no verified delivery arrived within 60 s (refused: {receiver.refused})")
    if [d.get("type") for d in receiver.verified] != ["ping"]:
        raise Failed(f"the deliveries are not the ping alone: {receiver.verified}")
    # Opened again (a reload would send the form again: its key replays the
    # page as it was, the delivery still pending).
    log_url = page.url.split("#")[0]
    if "?endpoint=" not in log_url:
        log_url = page.locator('a[href^="/portal/webhooks?endpoint="]').first.get_attribute("href")
        log_url = args.base + log_url.split("#")[0]
    for _ in range(40):
        page.goto(log_url)
        if "204" in page.locator("#deliveries ~ section").first.inner_text():
            break
        time.sleep(0.25)
    log = page.locator("#deliveries ~ section").first.inner_text()
    if "ping" not in log or "204" not in log or "succeeded" not in log:
        _, endpoints = api(args.base, args.api_key, "GET", "/v1/webhook-endpoints")
        shown = [api(args.base, args.api_key, "GET", f"/v1/webhook-endpoints/{e['id']}/deliveries")
                 for e in endpoints.get("data", [])]
        raise Failed(f"the delivery log does not show the attempt: {log}\n    the API shows: {shown}"
                     f"\n    the receiver verified: {receiver.verified}")
    if receiver.secret in page.content():
        raise Failed("the signing secret shows again")
    browser.screenshot("webhooks")

    step("Events: the timeline, filtered by type")
    v.view("/portal/events", "Events")
    page.get_by_text("Filter by type").click()
    page.get_by_label("directory.created").check()
    with page.expect_response(lambda r: "/portal/events?" in r.url):
        page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state("load")
    rows = page.locator("tbody tr")
    # Events come from the table's stream (the local stack polls it).
    for _ in range(60):
        if rows.count():
            break
        time.sleep(0.5)
        page.reload()
    if rows.count() != 1 or "directory.created" not in rows.first.inner_text():
        _, logged = api(args.base, args.api_key, "GET", "/v1/events?limit=100")
        kinds = [e["type"] for e in logged.get("data", [])] if isinstance(logged, dict) else logged
        raise Failed(f"the filtered timeline at {page.url} shows {rows.count()} rows: "
                     f"{page.inner_text('main')[:300]}\n    the API's log: {kinds}")
    browser.screenshot("events")

    step("Usage: turns and relationships against the plan, refusals as a chart")
    v.view("/portal/usage", "Usage")
    if page.locator("svg.chart[role=img] rect.bar").count() != 24:
        raise Failed("the chart does not draw 24 hours")
    v.expect_text("Turns", "the Usage view")
    browser.screenshot("usage")

    # From here on pages answer 404, 410 and 401 on purpose: Chromium logs
    # each as a failed resource, which is no problem of the portal's.
    expected_from = len(browser.seen)
    step("another organization's endpoint in the URL is 404")
    if args.other_api_key:
        status, theirs = api(args.base, args.other_api_key, "POST", "/v1/webhook-endpoints",
                             {"url": "http://127.0.0.1:9/other"})
        if status != 201:
            raise Failed(f"the other organization's endpoint: {status} {theirs}")
        response = page.goto(f"{args.base}/portal/webhooks?endpoint={theirs['id']}")
        if response.status != 404:
            raise Failed(f"another organization's endpoint answered {response.status}")
        check_headers(response, "a 404 page")

    step("the same link opened again fails, in a fresh browser")
    other = browser.browser.new_context()
    try:
        again = other.new_page().goto(link["url"])
        if again.status != 410:
            raise Failed(f"the link opened a second time answered {again.status}")
    finally:
        other.close()

    step("signing out ends the session")
    page.goto(f"{args.base}/portal/usage")
    v.submit("Sign out")
    ended = page.goto(f"{args.base}/portal/usage")
    if ended.status != 401:
        raise Failed(f"after signing out, a view answered {ended.status}")
    browser.seen[expected_from:] = [
        (url, what) for url, what in browser.seen[expected_from:]
        if not what.startswith("console: Failed to load resource: the server responded with a status of 4")
    ]
    return v.figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="Tether's URL, e.g. http://127.0.0.1:9134")
    parser.add_argument("--api-key", required=True, help="an admin API key of the organization")
    parser.add_argument("--other-api-key", help="an admin key of another organization (isolation)")
    parser.add_argument("--screenshots", metavar="DIR", help="save each view's full page as DIR/<view>.png")
    parser.add_argument("--issuer", required=True, help="the local OpenID Provider's issuer")
    parser.add_argument("--client-id", default="rs256-basic", help="its client for Tether")
    parser.add_argument("--client-secret", default="s3:c%r+t/~&=", help="that client's secret")
    parser.add_argument("--client-auth", default="client_secret_basic",
                        help="how that client authenticates at the token endpoint")
    parser.add_argument("--login", default="ada", help="the login name to sign in with at the provider")
    args = parser.parse_args()
    args.base = args.base.rstrip("/")

    step(f"launching {CHROMIUM} (headless)")
    receiver = Receiver()
    with sync_playwright() as playwright:
        try:
            browser = Browser(playwright, args.screenshots)
        except PlaywrightError as err:
            print(f"FAILED: Chromium did not start: {err.message}", file=sys.stderr)
            return 1
        print(f"    Chromium {browser.browser.version}", flush=True)
        try:
            figures = visit(args, browser, receiver)
            problems = browser.problems(args.base)
            if problems:
                raise Failed("the portal's pages went wrong:\n    " + "\n    ".join(problems))
        except (Failed, PlaywrightError) as err:
            message = err.message if isinstance(err, PlaywrightError) else str(err)
            print(f"FAILED: {message}", file=sys.stderr)
            if browser.page.url != "about:blank":
                try:
                    browser.screenshot("failure")
                except PlaywrightError:
                    pass
            return 1
        finally:
            browser.close()
            receiver.close()
    print("    view                 HTML bytes  with assets  click to load (ms)")
    for path, html, total, ms in figures:
        print(f"    {path:<20} {html:>10}  {total:>11}  {ms:>17.0f}")
    step("every step passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
