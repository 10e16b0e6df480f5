"""moto's server with one request at a time.

moto's DynamoDB backend keeps no lock: two concurrent conditional writes (or
transactions) on one item can both check their condition before either writes,
so both succeed — which DynamoDB never allows. A conditional write must be
atomic for Tether's invariants (one identity per pair, ceilings, limiter), so
this wraps moto's WSGI application in one lock: each DynamoDB call runs whole,
as it does in AWS. Connections are still served by threads (keep-alive clients
do not block each other between calls).

    .venv/bin/python scripts/moto_server.py HOST PORT
"""

import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def serialized(app):
    lock = threading.Lock()

    def call(environ, start_response):
        with lock:
            # moto builds whole responses; materialise it inside the lock all the same.
            return list(app(environ, start_response))

    return call


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
