// Drives the local stack through openapi-fetch typed by openapi-typescript's
// output for docs/openapi.json (scripts/clients.sh). `tsc --strict` checks
// the calls and the narrowing of errors before it runs; at run time the
// answers are checked against what the types promise.
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

const url = process.env.TETHER_URL!;
const org = createClient<paths>({
  baseUrl: url,
  headers: { "X-API-Key": process.env.CONTRACT_API_KEY! },
});
const service = createClient<paths>({
  baseUrl: url,
  headers: { Authorization: `Bearer ${process.env.CONTRACT_SERVICE_TOKEN!}` },
});

function check(condition: boolean, what: string, answer: unknown): void {
  if (!condition) {
    throw new Error(`${what}: ${JSON.stringify(answer)}`);
  }
}

const created = await org.POST("/v1/end-users", {
  body: { email: "ts-client@example.com", display_name: "Ts" },
});
check(created.response.status === 201 && created.data !== undefined, "create", created.error);
const user = created.data!;
const subscription: "free" | "pro" = user.subscription;
check(subscription === "free", "subscription", user);

const fetched = await org.GET("/v1/end-users/{user_id}", {
  params: { path: { user_id: user.id } },
});
check(fetched.data?.id === user.id, "get", fetched.error);

const missing = await org.GET("/v1/end-users/{user_id}", {
  params: { path: { user_id: crypto.randomUUID() } },
});
check(missing.response.status === 404, "missing", missing.error);
if (missing.response.status === 404 && missing.error) {
  // Typed: the union of this operation's error codes includes not_found.
  const code = missing.error.code;
  check(code === "not_found", "code", missing.error);
}

const invalid = await org.POST("/v1/end-users", { body: { email: "not an email" } });
check(invalid.error?.code === "validation_failed", "invalid", invalid.error);

const page = await org.GET("/v1/end-users", { params: { query: { limit: 1 } } });
check(page.data?.data.length === 1 && typeof page.data.next_cursor === "string", "page", page.data);

const serviceId = process.env.CONTRACT_SERVICE_ID!;
const organizations = await service.GET(
  "/api/v1/external-services/{externalServiceId}/organizations",
  { params: { path: { externalServiceId: serviceId } } },
);
check(organizations.data?.data.length === 1, "organizations", organizations.error);

const other = await service.GET("/api/v1/external-services/{externalServiceId}/organizations", {
  params: { path: { externalServiceId: crypto.randomUUID() } },
});
check(other.error?.error.type === "external_service_access_denied", "other service", other.error);

console.log("typescript client: 7 calls, every answer typed");
