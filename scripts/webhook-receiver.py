"""A local webhook receiver that verifies every delivery with the Standard
Webhooks reference library (PyPI: standardwebhooks), prints it, and answers
204 — or 500 with --fail N for the first N deliveries, to watch retries.

    .venv/bin/pip install standardwebhooks
    .venv/bin/python scripts/webhook-receiver.py --port 9100 --secret whsec_... [--fail 1]
"""

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--fail", type=int, default=0)
    args = parser.parse_args()
    verifier = Webhook(args.secret)
    failures = {"left": args.fail}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                event = verifier.verify(body, dict(self.headers))
                verdict = "verified"
            except WebhookVerificationError as err:
                event, verdict = json.loads(body or b"{}"), f"NOT VERIFIED ({err})"
            status = 204
            if failures["left"] > 0:
                failures["left"] -= 1
                status = 500
            print(f"{self.headers['webhook-id']} {event.get('type')} {verdict} -> {status}", flush=True)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *_):
            pass

    print(f"receiving on http://127.0.0.1:{args.port}/hook", flush=True)
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
