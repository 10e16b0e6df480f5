"""moto's server with one DynamoDB call at a time per table (its SQS, which
the webhook deliveries use, is served as it is).

moto's DynamoDB backend keeps no lock: two concurrent conditional writes (or
transactions) on one item can both check their condition before either writes,
so both succeed — which DynamoDB never allows. A conditional write must be
atomic for Tether's invariants (one identity per pair, ceilings, limiter), so
this wraps moto's WSGI application in a lock per table: each call on a table
runs whole, as it does in AWS, while calls on other tables (every test has its
own) still run side by side. Calls that name no table share one lock.

    .venv/bin/python scripts/moto_server.py HOST PORT
"""

import io
import re
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

# The table a call acts on: `"TableName": "..."` (every item of a transaction
# names it) or a stream ARN `...:table/<name>/stream/...`.
TABLE = re.compile(rb'"TableName"\s*:\s*"([^"]+)"|:table/([^/"]+)/stream')


def serialized(app):
    guard = threading.Lock()
    locks = {}

    def lock_for(body):
        match = TABLE.search(body)
        name = (match.group(1) or match.group(2)) if match else b""
        with guard:
            return locks.setdefault(name, threading.Lock())

    def call(environ, start_response):
        # Only DynamoDB (and its streams) needs the lock; SQS keeps its own.
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        with lock_for(body):
            # moto builds whole responses; materialise it inside the lock all the same.
            return list(app(environ, start_response))

    return call


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
