// A genuine OpenID Provider for the SSO tests: panva's `oidc-provider`
// (OpenID Certified), installed by scripts/tools.sh into .local/oidc. It
// serves discovery, its JWKS and the authorization-code flow on loopback.
//
// Environment:
//   OIDC_PORT         port to listen on (127.0.0.1)
//   OIDC_MODULE       absolute path of oidc-provider's lib/index.js
//   OIDC_KEY_DIR      where each key generation's private keys are kept, so
//                     a restart signs with the same keys
//   OIDC_GENERATIONS  comma-separated generations to publish, signing with
//                     the first (e.g. "g2,g1" while rotating, "g2" after)
//
// Clients `rs256`, `es256` and `eddsa` (secret "secret", redirect
// http://127.0.0.1/cb) get id_tokens signed with that algorithm. Logins
// finish on their own: the account is the request's `login_hint`.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const { default: Provider } = await import(process.env.OIDC_MODULE);
const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const dir = process.env.OIDC_KEY_DIR;
const algs = { rs256: 'RS256', es256: 'ES256', eddsa: 'EdDSA' };

function generation(name) {
  const file = path.join(dir, `${name}.json`);
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
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
  fs.writeFileSync(file, JSON.stringify(keys));
  return keys;
}

const keys = [];
for (const name of process.env.OIDC_GENERATIONS.split(',')) keys.push(...generation(name));

const provider = new Provider(issuer, {
  clients: Object.entries(algs).map(([id, alg]) => ({
    client_id: id,
    client_secret: 'secret',
    redirect_uris: ['http://127.0.0.1/cb'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: alg,
    token_endpoint_auth_method: 'client_secret_post',
  })),
  jwks: { keys },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  findAccount: (ctx, sub) => ({
    accountId: sub,
    claims: () => ({ sub, email: `${sub}@example.com`, email_verified: true, name: `User ${sub}`, preferred_username: sub }),
  }),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { IdToken: 600 },
});

// Logins and consents finish at once, for the account the client hinted.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const accountId = details.params.login_hint || 'anonymous';
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope('openid email profile');
  const grantId = await grant.save();
  const result = { login: { accountId }, consent: { grantId } };
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.respond = false;
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
