// A genuine OpenID Provider for the SSO tests: panva's `oidc-provider`
// (OpenID Certified), installed by scripts/tools.sh into .local/oidc. It
// serves discovery, its JWKS and the authorization-code flow on loopback.
//
// Environment:
//   OIDC_MODULE       absolute path of oidc-provider's lib/index.js
//   OIDC_GENERATIONS  comma-separated key generations to publish, signing
//                     with the first (e.g. "g2,g1" while rotating)
//   OIDC_CALLBACK     more redirect URIs of every client, comma-separated
//                     (Tether's SSO callback)
//   OIDC_PORT         the port to listen on (default: one the kernel picks)
//
// `POST /_register?redirect_uri=…` registers one more redirect URI with
// every client (a login connection's callback): the provider is built again
// with it, as a rotation is.
//
// It listens on a port the kernel picks — so no other process can hold it
// first — and prints `listening <issuer>` once it serves. A rotation is
// `POST /_rotate?generations=g2,g1`: the provider is built again with those
// generations behind the same listener (a generation's keys are made once
// and kept), so the issuer never moves and nothing rebinds.
//
// Clients `rs256`, `es256` and `eddsa` (secret "secret", redirect
// http://127.0.0.1/cb and OIDC_CALLBACK) get id_tokens signed with that
// algorithm. Any login name signs in with any password; `unverified-*`
// accounts' emails are not verified.
import crypto from 'node:crypto';
import http from 'node:http';

const { default: Provider } = await import(process.env.OIDC_MODULE);
const algs = { rs256: 'RS256', es256: 'ES256', eddsa: 'EdDSA' };
const generations = new Map();
const callbacks = (process.env.OIDC_CALLBACK || '').split(',').filter(Boolean);

function generation(name) {
  if (!generations.has(name)) {
    const keys = [];
    for (const alg of Object.values(algs)) {
      const { privateKey } = alg === 'RS256'
        ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
        : alg === 'ES256'
          ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
          : crypto.generateKeyPairSync('ed25519');
      const jwk = privateKey.export({ format: 'jwk' });
      keys.push({ ...jwk, alg, use: 'sig', kid: `${name}-${alg.toLowerCase()}` });
    }
    generations.set(name, keys);
  }
  return generations.get(name);
}

function build(issuer, names) {
  const provider = new Provider(issuer, {
    // Each algorithm twice: `<alg>` authenticates at the token endpoint with
    // client_secret_post, `<alg>-basic` with client_secret_basic and a
    // secret holding characters Basic must form-encode (this provider
    // accepts either method from a client registered for one).
    clients: Object.entries(algs).flatMap(([id, alg]) => [
      ['client_secret_post', id, 'secret'],
      ['client_secret_basic', `${id}-basic`, 's3:c%r+t/~&='],
    ].map(([method, client_id, client_secret]) => ({
      client_id,
      client_secret,
      redirect_uris: ['http://127.0.0.1/cb', ...callbacks],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: alg,
      token_endpoint_auth_method: method,
    }))),
    jwks: { keys: names.split(',').flatMap(generation) },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    conformIdTokenClaims: false,
    // The provider's own login and consent pages: the tests fill them in
    // over HTTP as a browser would (any password signs in).
    features: { devInteractions: { enabled: true } },
    findAccount: (ctx, sub) => ({
      accountId: sub,
      claims: () => ({ sub, email: `${sub}@example.com`, email_verified: !sub.startsWith('unverified-'), name: `User ${sub}`, preferred_username: sub }),
    }),
    ttl: { IdToken: 600, AuthorizationCode: 600 },
  });

  return provider.callback();
}

let issuer;
let handler;
let current = process.env.OIDC_GENERATIONS;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname === '/_rotate' && req.method === 'POST') {
    current = url.searchParams.get('generations');
    handler = build(issuer, current);
    res.writeHead(204).end();
    return;
  }
  if (url.pathname === '/_register' && req.method === 'POST') {
    callbacks.push(url.searchParams.get('redirect_uri'));
    handler = build(issuer, current);
    res.writeHead(204).end();
    return;
  }
  handler(req, res);
});
server.listen(Number(process.env.OIDC_PORT || 0), '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  handler = build(issuer, current);
  console.log(`listening ${issuer}`);
});
