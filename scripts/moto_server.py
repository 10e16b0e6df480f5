"""moto's server with one DynamoDB call at a time per table (its SQS, which
the webhook deliveries use, is served as it is).

moto's DynamoDB backend keeps no lock: two concurrent conditional writes (or
transactions) on one item can both check their condition before either writes,
so both succeed — which DynamoDB never allows. A conditional write must be
atomic for Tether's invariants (one identity per pair, ceilings, limiter), so
this wraps moto's WSGI application in a lock per table: each call on a table
runs whole, as it does in AWS, while calls on other tables (every test has its
own) still run side by side. Calls that name no table share one lock.

It also makes moto's transactions cost what they touch. moto undoes a
cancelled TransactWriteItems by restoring a deep copy of every table the
transaction names, taken before it starts, once per item naming it: the
whole table, its items and every stream record it ever wrote. That made one
transaction cost ~0.5 s of CPU once a test's table held a few thousand
records (docs/decisions.md, "CI time"). Here the deep copy of a table is the
table itself, and the transaction is undone from a copy of the items it
names and the length of each stream before it: the same state moto's copy
restored, since a transaction writes nothing else.

    .venv/bin/python scripts/moto_server.py HOST PORT
"""

import copy
import io
import re
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
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


class _TablesNotCopied:
    """The `copy` module as moto's DynamoDB backend sees it: a table's deep
    copy is the table itself (undo is done by `_transact_write_items`)."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_moto_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    """moto's transaction, undone when cancelled from copies of the items it
    names and the length of each table's stream before it."""
    items, streams = [], {}
    for entry in transact_items:
        op = next(iter(entry.values()), None)
        table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None:
            continue  # moto refuses it before writing anything
        key = op.get("Key") or {
            name: op.get("Item", {}).get(name)
            for name in (table.hash_key_attr, table.range_key_attr)
            if name is not None
        }
        try:
            hash_key, range_key = self.get_keys_value(table, key)
        except Exception:
            continue  # a malformed key: moto refuses it before writing anything
        before = table.get_item(hash_key, range_key)
        items.append((table, hash_key, range_key, copy.deepcopy(before)))
        if table.stream_shard is not None:
            streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
    try:
        return _moto_transact_write_items(self, transact_items)
    except BaseException:
        for table, hash_key, range_key, before in reversed(items):
            if range_key is None:
                if before is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = before
            elif before is None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items[hash_key][range_key] = before
        for shard, length in streams.values():
            del shard.items[length:]
        raise


def cheap_transactions():
    """Installs `_transact_write_items`; fails loudly if moto's internals moved."""
    assert getattr(dynamodb_models, "copy", None) is copy, "moto's DynamoDB backend no longer imports copy"
    for name in ("items", "stream_shard", "hash_key_attr", "range_key_attr"):
        assert name in Table.__init__.__code__.co_names, f"moto's Table has no {name}"
    assert hasattr(DynamoDBBackend, "get_keys_value"), "moto's backend has no get_keys_value"
    dynamodb_models.copy = _TablesNotCopied
    DynamoDBBackend.transact_write_items = _transact_write_items


def main():
    cheap_transactions()
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
