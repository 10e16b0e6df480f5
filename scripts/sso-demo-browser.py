#!/usr/bin/env python3
"""`scripts/dev-sso.sh --smoke`: a browser, without one, signing in through
the demo app (scripts/sso-demo-app.py).

    scripts/sso-demo-browser.py http://127.0.0.1:9200/ [--login ada]

It opens the app, follows its "Sign in with SSO" link to Tether, follows
every redirect itself (keeping each site's cookies as a browser does — on
one host, whatever the port), fills in the provider's login form (any
password) and its consent form, and ends at the app's callback page. Exits
0 when that page shows the provider's profile and an end user for `login`
and Tether set its binding cookie along the way; else prints every step and
the last page, and exits 1.
"""

import argparse
import html
import http.cookiejar
import sys
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # every redirect is followed (and shown) below


class Page(HTMLParser):
    """The page's links (id -> href), its first form and the ids it holds."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.ids, self.form, self._in_form = {}, set(), None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("id") and attrs.get("href"):
            self.links[attrs["id"]] = attrs["href"]
        elif tag == "form" and self.form is None:
            self.form = {"action": attrs.get("action", ""), "method": attrs.get("method", "get").lower(),
                         "fields": []}
            self._in_form = True
        elif tag == "input" and self._in_form and attrs.get("name"):
            self.form["fields"].append((attrs["name"], attrs.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False


def parse(text):
    page = Page()
    page.feed(text)
    return page


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", help="the demo app's URL, e.g. http://127.0.0.1:9200/")
    parser.add_argument("--login", default="ada", help="the login name at the provider")
    args = parser.parse_args()

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect(),
                                         urllib.request.HTTPCookieProcessor(jar))
    steps = []

    def fail(message, text=""):
        print("\n".join(steps), file=sys.stderr)
        print(f"FAILED: {message}", file=sys.stderr)
        if text:
            print(text[:4000], file=sys.stderr)
        sys.exit(1)

    def fetch(url, form=None):
        data = None if form is None else urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(url, data=data)
        try:
            res = opener.open(request, timeout=30)
        except urllib.error.HTTPError as err:
            res = err
        except OSError as err:
            fail(f"{url}: {err}")
        text = res.read().decode(errors="replace")
        set_cookies = [c.split("=", 1)[0] for c in res.headers.get_all("Set-Cookie") or []]
        where = urllib.parse.urlsplit(url)
        steps.append(f"  {'POST' if form is not None else 'GET '} {where.netloc}{where.path} -> {res.status}"
                     + (f"  (sets {', '.join(set_cookies)})" if set_cookies else ""))
        return res.status, res.headers, text, set_cookies

    app = args.app if args.app.endswith("/") else args.app + "/"
    status, _, text, set_cookies = fetch(app)
    link = parse(text).links.get("sso")
    if status != 200 or not link:
        fail("the app's page has no Sign in with SSO link", text)
    tether = urllib.parse.urlsplit(link).netloc
    url, form, tether_cookie = link, None, False
    callback = urllib.parse.urljoin(app, "callback")

    for _ in range(25):
        status, headers, text, set_cookies = fetch(url, form)
        form = None
        if urllib.parse.urlsplit(url).netloc == tether and "tether_sso" in set_cookies:
            tether_cookie = True
        if 300 <= status < 400:
            location = headers.get("Location")
            if not location:
                fail(f"{status} without a Location at {url}", text)
            url = urllib.parse.urljoin(url, location)
            continue
        if url.split("?")[0] == callback:
            break
        page = parse(text)
        if status != 200 or page.form is None:
            fail(f"{status} without a form at {url}", text)
        fields = [(name, args.login if name == "login" else "any password" if name == "password" else value)
                  for name, value in page.form["fields"]]
        url, form = urllib.parse.urljoin(url, page.form["action"]), fields
    else:
        fail("no return to the app after 25 steps")

    page = parse(text)
    email = f"{args.login}@example.com"
    if status != 200 or not {"profile", "end-user", "identity"} <= page.ids or html.escape(email) not in text:
        fail(f"the app's callback did not show a profile for {email} ({status})", text)
    if not tether_cookie:
        fail("Tether's authorize set no tether_sso cookie")
    print("\n".join(steps))
    print(f"signed in as {email}: the app shows the provider's profile and the end user")


if __name__ == "__main__":
    main()
