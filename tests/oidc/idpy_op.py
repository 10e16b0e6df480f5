"""A second OpenID Provider for the tests: IdentityPython's idpyoidc (OpenID
Certified), driven by this small WSGI server on loopback. Its signing keys
are RSA, EC P-256 and Ed25519; its clients `<alg>` authenticate at the token
endpoint with client_secret_post (secret `secret`), `<alg>-basic` with
client_secret_basic (secret `basic-secret_1.x`: idpyoidc does not form-decode
Basic credentials, RFC 6749 section 2.3.1, so the secret holds only characters
form encoding leaves alone); each client is held to its method at the token
endpoint. Sign-in is idpyoidc's UserPassJinja2 (its password check and its
signed form token) behind a form this file writes and the few lines of WSGI
glue below; users ada, bob and eve sign in with `pw-<name>`. Prints
`listening <issuer>`.

`POST /_register?redirect_uri=…` registers one more redirect URI with every
client (a login connection's callback).

Environment: IDPY_CALLBACK (the redirect URIs its clients are registered
with, comma-separated, default http://127.0.0.1/cb), IDPY_PORT (default: any
free port).
"""
import json
import os
import tempfile
import traceback
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import make_server, WSGIRequestHandler

class Quiet(WSGIRequestHandler):
    def log_message(self, *a): pass

state = tempfile.mkdtemp(prefix="idpy-")
os.chdir(state)
callbacks = os.environ.get("IDPY_CALLBACK", "http://127.0.0.1/cb").split(",")
httpd = make_server("127.0.0.1", int(os.environ.get("IDPY_PORT", "0")), lambda e, s: app(e, s), handler_class=Quiet)
issuer = f"http://127.0.0.1:{httpd.server_port}"

os.makedirs("templates")
with open("templates/user_pass.jinja2", "w") as f:
    f.write('<form action="{{action}}" method="post"><input type="hidden" name="token" value="{{token}}"/>'
            '<input type="text" name="username" value="{{login_hint}}"/><input type="password" name="password"/>'
            '<button type="submit">Sign in</button></form>')
users = {u: {"sub": u, "email": f"{u}@example.com", "email_verified": True, "name": f"User {u}", "preferred_username": u} for u in ["ada", "bob", "eve"]}
json.dump({u: f"pw-{u}" for u in users}, open("passwd.json", "w"))
json.dump(users, open("users.json", "w"))

from idpyoidc.server import Server
from idpyoidc.server.configure import OPConfiguration
from idpyoidc.message.oidc import AccessTokenRequest, AuthorizationRequest
from idpyoidc.message.oauth2 import ResponseMessage
from idpyoidc.server.oidc.token import Token

conf = {
    "issuer": issuer,
    "httpc_params": {"verify": False},
    "keys": {"private_path": "jwks.json", "key_defs": [
        {"type": "RSA", "use": ["sig"]}, {"type": "EC", "crv": "P-256", "use": ["sig"]},
        {"type": "OKP", "crv": "Ed25519", "use": ["sig"]}], "uri_path": "jwks", "read_only": False},
    "token_handler_args": {"jwks_def": {"private_path": "token_jwks.json", "read_only": False,
        "key_defs": [{"type": "oct", "bytes": 24, "use": ["enc"], "kid": "code"}]},
        "code": {"kwargs": {"lifetime": 600}},
        "token": {"class": "idpyoidc.server.token.jwt_token.JWTToken", "kwargs": {"lifetime": 3600}},
        "id_token": {"class": "idpyoidc.server.token.id_token.IDToken",
                     "kwargs": {"base_claims": {"email": None, "email_verified": None, "name": None, "preferred_username": None}}}},
    "endpoint": {
        "provider_config": {"path": ".well-known/openid-configuration", "class": "idpyoidc.server.oidc.provider_config.ProviderConfiguration", "kwargs": {}},
        "authorization": {"path": "authorization", "class": "idpyoidc.server.oidc.authorization.Authorization",
                          "kwargs": {"response_types_supported": ["code"], "response_modes_supported": ["query"]}},
        "token": {"path": "token", "class": "idpyoidc.server.oidc.token.Token",
                  "kwargs": {"client_authn_method": ["client_secret_post", "client_secret_basic"]}},
    },
    "authentication": {"user": {"acr": "urn:oasis:names:tc:SAML:2.0:ac:classes:InternetProtocolPassword",
        "class": "idpyoidc.server.user_authn.user.UserPassJinja2",
        "kwargs": {"verify_endpoint": "/verify/user", "template": "user_pass.jinja2",
                   "db": {"class": "idpyoidc.server.util.JSONDictDB", "kwargs": {"filename": "passwd.json"}}}}},
    "userinfo": {"class": "idpyoidc.server.user_info.UserInfo", "kwargs": {"db_file": "users.json"}},
    "template_dir": "templates",
    "add_on": {"pkce": {"function": "idpyoidc.server.oauth2.add_on.pkce.add_support", "kwargs": {"essential": False}}},
}
server = Server(OPConfiguration(conf, base_path=state), cwd=state)
ctx = server.get_context()
for alg_id, alg in {"rs256": "RS256", "es256": "ES256", "eddsa": "EdDSA"}.items():
    for method, cid, secret in [("client_secret_post", alg_id, "secret"), ("client_secret_basic", f"{alg_id}-basic", "basic-secret_1.x")]:
        ctx.cdb[cid] = {"client_id": cid, "client_secret": secret, "redirect_uris": [(callback, {}) for callback in callbacks],
            "response_types_supported": ["code"], "allowed_scopes": ["openid", "email", "profile"],
            "id_token_signed_response_alg": alg, "token_endpoint_auth_method": method, "token_endpoint_client_authn_method": [method], "client_salt": "salt"}

def respond(start, status, body, headers=()):
    start(status, [("Content-Type", "application/json")] + list(headers))
    return [body.encode() if isinstance(body, str) else body]

def do_response(start, endpoint, req, **args):
    info = endpoint.do_response(request=req, **args)
    headers = list(info.get("http_headers", []))
    placement = info.get("response_placement", endpoint.response_placement)
    if placement == "url":
        start("302 Found", headers + [("Location", info["response"])])
        return [b""]
    start("200 OK", headers)
    r = info["response"]
    return [r.encode() if isinstance(r, str) else r]

def app(environ, start):
    path = environ["PATH_INFO"]; method = environ["REQUEST_METHOD"]
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode() if method == "POST" else ""
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if "CONTENT_TYPE" in environ: headers["content-type"] = environ["CONTENT_TYPE"]
    http_info = {"headers": headers, "method": method, "url": issuer + path, "cookie": []}
    try:
        if path == "/jwks":
            return respond(start, "200 OK", ctx.keyjar.export_jwks_as_json())
        if path == "/_register" and method == "POST":
            # A redirect URI more for every client (an administrator
            # registering a login connection's callback), matched exactly.
            for client in ctx.cdb.values():
                client["redirect_uris"].append((query["redirect_uri"], {}))
            start("204 No Content", [])
            return [b""]
        if path == "/verify/user":
            form = {k: v[0] for k, v in parse_qs(body).items()}
            authn = ctx.authn_broker.get_method_by_id("user")
            user = authn.verify(**form)
            args = authn.unpack_token(form["token"])
            req = AuthorizationRequest().from_urlencoded(args["query"])
            endpoint = server.get_endpoint("authorization")
            sid = endpoint.create_session(req, user, args["authn_class_ref"], args["iat"], authn)
            out = endpoint.authz_part2(request=req, session_id=sid)
            return do_response(start, endpoint, req, **out)
        names = {"/.well-known/openid-configuration": "provider_config", "/authorization": "authorization", "/token": "token"}
        if path not in names:
            return respond(start, "404 Not Found", "{}")
        endpoint = server.get_endpoint(names[path])
        req = endpoint.parse_request(query if method == "GET" else body, http_info=http_info)
        if isinstance(req, ResponseMessage) and "error" in req:
            return respond(start, "400 Bad Request", req.to_json())
        if isinstance(endpoint, Token):
            out = endpoint.process_request(AccessTokenRequest(**req), http_info=http_info)
        else:
            out = endpoint.process_request(req, http_info=http_info)
        if "http_response" in out:
            start("200 OK", [("Content-Type", "text/html")])
            return [out["http_response"].encode()]
        if isinstance(out, ResponseMessage) and "error" in out:
            return respond(start, "400 Bad Request", out.to_json())
        return do_response(start, endpoint, req, **out)
    except Exception as err:  # the tests read the reason; the log has the trace
        traceback.print_exc()
        return respond(start, "400 Bad Request", json.dumps({"error": "invalid_request", "error_description": str(err)}))

print(f"listening {issuer}", flush=True)
httpd.serve_forever()
