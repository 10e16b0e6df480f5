"""Drives the local stack through the client openapi-python-client generated
from docs/openapi.json (scripts/clients.sh): successes parse into their
models, errors into the typed model of their status.

Environment: TETHER_URL, CONTRACT_API_KEY, CONTRACT_SERVICE_ID,
CONTRACT_SERVICE_TOKEN.
"""

import os
import uuid

from tether_client import AuthenticatedClient
from tether_client.api.external_service_api import list_service_organizations
from tether_client.api.organization_api import (
    create_connect_token,
    create_end_user,
    get_end_user,
    list_end_users,
    update_end_user,
)
from tether_client.models import (
    CreateConnectTokenRequest,
    CreatedConnectToken,
    CreateEndUserRequest,
    EndUser,
    EndUserList,
    Error404,
    Error422,
    Metadata,
    ServiceError403,
    ServiceOrganizationList,
    UpdateEndUserRequest,
)

url = os.environ["TETHER_URL"]
org = AuthenticatedClient(
    base_url=url,
    token=os.environ["CONTRACT_API_KEY"],
    prefix="",
    auth_header_name="X-API-Key",
)
service = AuthenticatedClient(base_url=url, token=os.environ["CONTRACT_SERVICE_TOKEN"])

created = create_end_user.sync_detailed(
    client=org,
    body=CreateEndUserRequest(email="python-client@example.com", display_name="Py"),
)
assert created.status_code == 201 and isinstance(created.parsed, EndUser), created
user = created.parsed
assert user.email == "python-client@example.com" and user.subscription == "free"

fetched = get_end_user.sync_detailed(user.id, client=org)
assert isinstance(fetched.parsed, EndUser) and fetched.parsed.id == user.id, fetched

metadata = Metadata.from_dict({"plan": "gold"})
patched = update_end_user.sync_detailed(
    user.id, client=org, body=UpdateEndUserRequest(metadata=metadata)
)
assert isinstance(patched.parsed, EndUser), patched
assert patched.parsed.metadata.to_dict() == {"plan": "gold"}

missing = get_end_user.sync_detailed(str(uuid.uuid4()), client=org)
assert isinstance(missing.parsed, Error404), missing
assert missing.parsed.code == "not_found" and missing.parsed.request_id

invalid = create_end_user.sync_detailed(
    client=org, body=CreateEndUserRequest(email="not an email")
)
assert isinstance(invalid.parsed, Error422), invalid
assert invalid.parsed.code == "validation_failed"

page = list_end_users.sync_detailed(client=org, limit=1)
assert isinstance(page.parsed, EndUserList) and len(page.parsed.data) == 1, page
assert isinstance(page.parsed.next_cursor, str)

token = create_connect_token.sync_detailed(
    client=org,
    body=CreateConnectTokenRequest(external_service_id=os.environ["CONTRACT_SERVICE_ID"]),
)
assert isinstance(token.parsed, CreatedConnectToken), token
assert token.parsed.token.startswith("tct_") and token.parsed.status == "pending"

organizations = list_service_organizations.sync_detailed(
    os.environ["CONTRACT_SERVICE_ID"], client=service
)
assert isinstance(organizations.parsed, ServiceOrganizationList), organizations
assert len(organizations.parsed.data) == 1

other = list_service_organizations.sync_detailed(str(uuid.uuid4()), client=service)
assert isinstance(other.parsed, ServiceError403), other
assert other.parsed.error.type_ == "external_service_access_denied"

print("python client: 9 calls, every answer typed")
