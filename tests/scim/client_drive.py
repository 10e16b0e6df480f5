"""scim2-client driving a directory's Users and Groups as an identity provider does.

    python tests/scim/client_drive.py BASE_URL    (token: SCIM_TOKEN)

Discovery (each endpoint, each resource type and schema by id), three users
created from Okta's bodies (one inactive), reads by id and by the filters
Okta and Entra send, pages, attribute projection, a PUT, PATCHes as Okta
sends them, If-Match conditions, a delete; a group created, found by name, its members
patched, replaced, deleted. Every step is asserted; a failed
step is reported with what was expected and what came back, and the run
goes on to the next. Exits 1 if any failed. Runs from .venv-scim.
"""

import os
import sys
import traceback
import uuid
from contextlib import contextmanager

import httpx2
from scim2_client import SCIMClientException
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import (
    Error,
    ListResponse,
    ResourceType,
    Schema,
    SCIMException,
    SearchRequest,
    ServiceProviderConfig,
)

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# The server answers a cold function slowly under `cargo lambda watch`.
TIMEOUT = 60

failures: list[str] = []
passed = 0


def expect(what: str, got, want) -> bool:
    global passed
    if got == want:
        passed += 1
        print(f"PASS {what}")
        return True
    failures.append(f"{what}: expected {want!r}, got {got!r}")
    print(f"FAIL {what}: expected {want!r}, got {got!r}")
    return False


def expect_true(what: str, condition: bool, detail="") -> bool:
    return expect(what + (f" ({detail})" if detail and not condition else ""), bool(condition), True)


@contextmanager
def step(name: str):
    """A step whose request failing is one failure, not the end of the run."""
    print(f"--- {name}")
    try:
        yield
    except (SCIMClientException, SCIMException, AssertionError, ValueError, TypeError,
            AttributeError, KeyError, IndexError) as exc:
        source = getattr(exc, "source", None)
        body = getattr(source, "text", None)
        cause = f" (caused by {exc.__cause__!r})" if exc.__cause__ else ""
        notes = " ".join(getattr(exc, "__notes__", []))
        message = f"{name}: {type(exc).__name__}: {exc}{cause} {notes}".strip()
        if source is not None and hasattr(source, "status_code"):
            message += f"\n    answered {source.status_code}: {body}"
        failures.append(message)
        print(f"FAIL {message}")
        traceback.print_exc(limit=3, file=sys.stdout)


def okta_user(tag: str, user_name: str, given: str, family: str, active: bool) -> dict:
    """A create body as Okta sends it (its SCIM 2.0 provisioning guide)."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": f"{given} {family}",
        "locale": "en-US",
        "externalId": f"00u{tag}{given}",
        "active": active,
    }


def ids(response) -> list[str]:
    return [resource.id for resource in (response.resources or [])]


def main() -> int:
    if len(sys.argv) != 2 or not os.environ.get("SCIM_TOKEN"):
        print("usage: SCIM_TOKEN=scim_... client_drive.py BASE_URL", file=sys.stderr)
        return 2
    base = sys.argv[1].rstrip("/")
    http = httpx2.Client(
        base_url=base,
        headers={"Authorization": f"Bearer {os.environ['SCIM_TOKEN']}"},
        timeout=TIMEOUT,
    )
    client = SyncSCIMClient(http)
    # Unique per run, and mixed case so that case-insensitive matching shows.
    tag = uuid.uuid4().hex[:8]
    users: dict[str, object] = {}

    with step("discovery"):
        client.discover()
        config = client.provider.config
        expect("ServiceProviderConfig: patch supported", bool(config.patch and config.patch.supported), True)
        expect("ServiceProviderConfig: filter supported", bool(config.filter and config.filter.supported), True)
        expect("ServiceProviderConfig: etag supported", bool(config.etag and config.etag.supported), True)
        again = client.query(ServiceProviderConfig, expected_status_codes=[200])
        expect_true("GET /ServiceProviderConfig parses", isinstance(again, ServiceProviderConfig))
        names = [resource_type.name for resource_type in client.provider.resource_types]
        expect_true("/ResourceTypes lists User", "User" in names, names)
        for resource_type in client.provider.resource_types:
            one = client.query(ResourceType, resource_type.id, expected_status_codes=[200])
            expect(f"GET /ResourceTypes/{resource_type.id}: endpoint", one.endpoint, resource_type.endpoint)
            schema = client.query(Schema, str(resource_type.schema_), expected_status_codes=[200])
            expect(f"GET /Schemas/{resource_type.schema_}: id", schema.id, str(resource_type.schema_))
        missing = client.query(ResourceType, "NoSuchType", raise_scim_errors=False, expected_status_codes=None)
        expect("GET /ResourceTypes/NoSuchType: 404", getattr(missing, "status", missing), 404)
    User = client.get_resource_model("User")
    if User is None:
        failures.append("no User model after discovery")
        return report()

    with step("create three users (one inactive)"):
        bodies = {
            "alice": okta_user(tag, f"Alice.{tag}@Example.com", "Alice", "Liddell", True),
            "bob": okta_user(tag, f"bob.{tag}@example.com", "Bob", "Builder", True),
            "carol": okta_user(tag, f"carol.{tag}@example.com", "Carol", "Danvers", False),
        }
        for key, body in bodies.items():
            created = client.create(body, expected_status_codes=[201])
            users[key] = created
            expect_true(f"POST /Users {key}: an id", bool(created.id))
            expect(f"POST /Users {key}: userName", created.user_name, body["userName"])
            expect(f"POST /Users {key}: externalId", created.external_id, body["externalId"])
            expect(f"POST /Users {key}: active", created.active, body["active"])
            expect(f"POST /Users {key}: name.givenName", created.name and created.name.given_name, body["name"]["givenName"])
            expect(f"POST /Users {key}: emails", [(e.value, e.type, e.primary) for e in created.emails or []],
                   [(body["userName"], "work", True)])
            expect(f"POST /Users {key}: meta.resourceType", created.meta.resource_type, "User")
            expect_true(f"POST /Users {key}: meta.location ends /Users/{{id}}",
                        str(created.meta.location or "").endswith(f"/Users/{created.id}"), created.meta.location)
            expect_true(f"POST /Users {key}: meta.version", bool(created.meta.version))
        # The same userName again: uniqueness (RFC 7644 §3.3).
        again = client.create(bodies["bob"], raise_scim_errors=False, expected_status_codes=None)
        expect("POST /Users duplicate userName: status", getattr(again, "status", again), 409)
        expect("POST /Users duplicate userName: scimType", getattr(again, "scim_type", None), "uniqueness")

    if len(users) != 3:
        return report()
    alice, bob, carol = users["alice"], users["bob"], users["carol"]

    with step("read by id"):
        for key, user in users.items():
            got = client.query(User, user.id, expected_status_codes=[200])
            expect(f"GET /Users/{key}: userName", got.user_name, user.user_name)
            expect(f"GET /Users/{key}: externalId", got.external_id, user.external_id)
            expect(f"GET /Users/{key}: active", got.active, user.active)
            expect(f"GET /Users/{key}: meta.version as created", got.meta.version, user.meta.version)
        missing = client.query(User, str(uuid.uuid4()), raise_scim_errors=False, expected_status_codes=None)
        expect("GET /Users/{unknown}: 404", getattr(missing, "status", missing), 404)

    def search(**params):
        return client.query(User, query_parameters=SearchRequest(**params), expected_status_codes=[200])

    with step("filters"):
        # userName is caseExact false (RFC 7643 §4.1.1): Okta's check before a create.
        found = search(filter=f'userName eq "{alice.user_name.upper()}"', start_index=1, count=100)
        expect("filter userName eq (other case): ids", ids(found), [alice.id])
        expect("filter userName eq (other case): totalResults", found.total_results, 1)
        found = search(filter=f'externalId eq "{bob.external_id}"')
        expect("filter externalId eq: ids", ids(found), [bob.id])
        # externalId is caseExact true (RFC 7643 §3.1).
        found = search(filter=f'externalId eq "{bob.external_id.upper()}"')
        expect("filter externalId eq (other case): totalResults", found.total_results, 0)
        found = search(filter=f'emails[type eq "work"].value eq "{carol.user_name}"')
        expect('filter emails[type eq "work"].value eq: ids', ids(found), [carol.id])
        found = search(filter=f'userName eq "nobody.{tag}@example.com"')
        expect("filter matching nothing: totalResults", found.total_results, 0)
        expect("filter matching nothing: Resources", found.resources or [], [])

    with step("pages"):
        everyone = {alice.id, bob.id, carol.id}
        first = search(start_index=1, count=2)
        expect("page startIndex=1 count=2: totalResults", first.total_results, 3)
        expect("page startIndex=1 count=2: itemsPerPage", first.items_per_page, 2)
        expect("page startIndex=1 count=2: startIndex", first.start_index, 1)
        expect("page startIndex=1 count=2: Resources", len(first.resources or []), 2)
        second = search(start_index=3, count=2)
        expect("page startIndex=3 count=2: startIndex", second.start_index, 3)
        expect("page startIndex=3 count=2: Resources", len(second.resources or []), 1)
        expect("pages 1 and 2: every user once", sorted(ids(first) + ids(second)), sorted(everyone))
        none = search(count=0)
        expect("count=0: totalResults", none.total_results, 3)
        expect("count=0: no Resources", none.resources or [], [])
        past = search(start_index=10, count=2)
        expect("startIndex past the end: totalResults", past.total_results, 3)
        expect("startIndex past the end: no Resources", past.resources or [], [])

    with step("attributes and excludedAttributes"):
        # id is returned always (RFC 7643 §7), whatever the parameters say.
        listed = search(attributes=["userName"])
        expect("list attributes=userName: (id, userName, emails) of each",
               sorted((u.id, u.user_name, u.emails) for u in listed.resources or []),
               sorted((u.id, u.user_name, None) for u in users.values()))
        listed = search(excluded_attributes=["emails"])
        expect("list excludedAttributes=emails: (id, userName, emails) of each",
               sorted((u.id, u.user_name, u.emails) for u in listed.resources or []),
               sorted((u.id, u.user_name, None) for u in users.values()))
        one = client.query(User, bob.id, query_parameters={"attributes": ["externalId"]}, expected_status_codes=[200])
        expect("get attributes=externalId: externalId", one.external_id, bob.external_id)
        expect("get attributes=externalId: no displayName", one.display_name, None)

    with step("replace (PUT) bob"):
        current = client.query(User, bob.id, expected_status_codes=[200])
        current.display_name = "Robert Builder"
        current.name.family_name = "Builder-Smith"
        current.emails[0].value = f"robert.{tag}@example.com"
        replaced = client.replace(current, expected_status_codes=[200])
        expect("PUT /Users/bob: displayName", replaced.display_name, "Robert Builder")
        expect("PUT /Users/bob: name.familyName", replaced.name and replaced.name.family_name, "Builder-Smith")
        expect("PUT /Users/bob: emails[0].value", replaced.emails and replaced.emails[0].value, f"robert.{tag}@example.com")
        expect("PUT /Users/bob: id kept", replaced.id, bob.id)
        expect_true("PUT /Users/bob: a new meta.version", replaced.meta.version != current.meta.version,
                    replaced.meta.version)
        got = client.query(User, bob.id, expected_status_codes=[200])
        expect("GET after PUT: displayName", got.display_name, "Robert Builder")
        found = search(filter=f'emails[type eq "work"].value eq "robert.{tag}@example.com"')
        expect("filter on the replaced email: ids", ids(found), [bob.id])

    with step("modify (PATCH) alice as Okta sends it"):
        before = client.query(User, alice.id, expected_status_codes=[200])
        patched = client.modify(User, alice.id, {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Alice Pleasance Liddell"}],
        }, expected_status_codes=[200])
        expect("PATCH replace displayName: 200 with the resource", patched is not None, True)
        expect("PATCH replace displayName: displayName", patched and patched.display_name, "Alice Pleasance Liddell")
        # Okta deactivates with a value object and no path.
        patched = client.modify(User, alice.id, {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        }, expected_status_codes=[200])
        expect("PATCH replace {active:false} (no path): active", patched and patched.active, False)
        got = client.query(User, alice.id, expected_status_codes=[200])
        expect("GET after PATCH: active", got.active, False)
        expect("GET after PATCH: displayName", got.display_name, "Alice Pleasance Liddell")
        expect_true("GET after PATCH: a new meta.version", got.meta.version != before.meta.version, got.meta.version)
        # Filtering on more than the keys is the server's choice: a comparison
        # it does not support is refused 400 invalidFilter (RFC 7644 §3.12).
        found = client.query(User, query_parameters=SearchRequest(filter="active eq false"),
                             raise_scim_errors=False, expected_status_codes=None)
        if isinstance(found, Error):
            expect("filter active eq false, refused: status and scimType",
                   (found.status, found.scim_type), (400, "invalidFilter"))
        else:
            expect("filter active eq false: ids", sorted(ids(found)), sorted([alice.id, carol.id]))

    with step("If-Match"):
        # alice as created: its version is two changes old.
        stale = alice.meta.version
        current = client.query(User, alice.id, expected_status_codes=[200])
        current.display_name = "Never Written"
        refused = client.replace(current, headers={"If-Match": stale},
                                 raise_scim_errors=False, expected_status_codes=None)
        expect("PUT with a stale If-Match: status", getattr(refused, "status", refused), 412)
        refused = client.modify(User, alice.id, {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Never Written"}],
        }, headers={"If-Match": stale}, raise_scim_errors=False, expected_status_codes=None)
        expect("PATCH with a stale If-Match: status", getattr(refused, "status", refused), 412)
        refused = client.delete(User, alice.id, headers={"If-Match": stale},
                                raise_scim_errors=False, expected_status_codes=None)
        expect("DELETE with a stale If-Match: status", getattr(refused, "status", refused), 412)
        got = client.query(User, alice.id, expected_status_codes=[200])
        expect("after the refusals: displayName unchanged", got.display_name, "Alice Pleasance Liddell")
        expect("after the refusals: meta.version unchanged", got.meta.version, current.meta.version)
        # The current version goes through (the client sends it as If-Match).
        current.display_name = "Alice Liddell"
        replaced = client.replace(current, expected_status_codes=[200])
        expect("PUT with the current If-Match: displayName", replaced.display_name, "Alice Liddell")

    with step("delete carol"):
        gone = client.delete(User, carol.id, expected_status_codes=[204])
        expect("DELETE /Users/carol: no content", gone, None)
        missing = client.query(User, carol.id, raise_scim_errors=False, expected_status_codes=None)
        expect("GET after DELETE: 404", getattr(missing, "status", missing), 404)
        again = client.delete(User, carol.id, raise_scim_errors=False, expected_status_codes=None)
        expect("DELETE again: 404", getattr(again, "status", again), 404)
        listed = search(start_index=1, count=100)
        expect("list after DELETE: totalResults", listed.total_results, 2)
        expect_true("list after DELETE: carol absent", carol.id not in ids(listed))

    Group = client.get_resource_model("Group")
    if Group is None:
        failures.append("no Group model after discovery")
        http.close()
        return report()
    alice, bob = users["alice"], users["bob"]

    with step("groups"):
        created = client.create({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": f"Engineering {tag}",
            "members": [{"value": alice.id, "display": "Alice"}],
        }, expected_status_codes=[201])
        expect("POST /Groups: displayName", created.display_name, f"Engineering {tag}")
        expect("POST /Groups: members", [m.value for m in created.members or []], [alice.id])
        found = client.query(Group, query_parameters=SearchRequest(
            filter=f'displayName eq "engineering {tag}"', excluded_attributes=["members"]),
            expected_status_codes=[200])
        expect("filter displayName eq (other case): ids", ids(found), [created.id])
        patched = client.modify(Group, created.id, {
            "schemas": [PATCH_SCHEMA],
            "Operations": [
                {"op": "add", "path": "members", "value": [{"value": bob.id}]},
                {"op": "remove", "path": f'members[value eq "{alice.id}"]'},
            ],
        }, expected_status_codes=[200])
        expect("PATCH add bob, remove alice: members", [m.value for m in patched.members or []], [bob.id])
        got = client.query(Group, created.id, expected_status_codes=[200])
        got.display_name = f"Platform {tag}"
        replaced = client.replace(got, expected_status_codes=[200])
        expect("PUT: displayName", replaced.display_name, f"Platform {tag}")
        expect("PUT: members kept", [m.value for m in replaced.members or []], [bob.id])
        gone = client.delete(Group, created.id, expected_status_codes=[204])
        expect("DELETE /Groups: no content", gone, None)
        missing = client.query(Group, created.id, raise_scim_errors=False, expected_status_codes=None)
        expect("GET after DELETE: 404", getattr(missing, "status", missing), 404)

    http.close()
    return report()


def report() -> int:
    print(f"{passed} passed, {len(failures)} failed")
    for failure in failures:
        print(f"  {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
