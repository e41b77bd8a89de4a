// A real OAuth 2 authorization server for toolgate's end-to-end tests: `oidc-provider` (a certified
// OpenID Provider) configured for machine clients, plus RFC 8693 token exchange. Ours, not
// third-party code; see README.md beside this file.
//
//   node tests/interop/oauth/server.mjs        (Node >= 20.18: oidc-provider uses URL.parse)
//
// Where the packages come from: ESM ignores NODE_PATH, so `oidc-provider` and `jose` are resolved
// with createRequire() from the node_modules folder named by TOOLGATE_NODE_MODULES, else from
// <repo>/target/interop/node/node_modules (where tests/interop/install.sh puts them), and loaded
// with import() of the resolved file.
//
// Environment (all optional):
//   PORT               listen port (default 0: any free port); binds 127.0.0.1 only
//   TLS_CERT, TLS_KEY  PEM files: serve HTTPS (node's https module); without them plain HTTP
//   ISSUER             issuer identifier; default https://127.0.0.1:<port> (TLS) or http://…
//   ADMIN_PORT         if set (0: any free port), a second plain-HTTP listener on 127.0.0.1 serving
//                      GET /test/stats only; announced as `oauth-provider admin on http://…`
//   TOKEN_TTL          access token lifetime in seconds (default 300)
//   CLIENTS_JSON       JSON array of oidc-provider client metadata, replacing the default client
//                      `gateway` / `gateway-secret` (secret by HTTP Basic or in the form body),
//                      allowed client_credentials and token exchange
//   AUDIENCES          comma-separated allow-list of audiences besides http:// and https:// URLs
//                      (which are always accepted)
//   DEFAULT_AUDIENCE   audience for token requests that name none (otherwise they are refused)
//   TRUSTED_JWKS_FILE  JSON Web Key Set whose keys may sign token-exchange subject tokens (read on
//                      every exchange, so a test may write it after start)
//   TRUSTED_ISSUER     if set, subject tokens signed by TRUSTED_JWKS_FILE keys must carry this `iss`
//
// Prints `oauth-provider listening on <issuer>` once every listener is up (the admin line, if any,
// comes first); exits 0 on SIGTERM. The listeners bind before the provider is built, so that with
// PORT=0 the issuer names the port actually bound.

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import * as querystring from 'node:querystring';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeModules = process.env.TOOLGATE_NODE_MODULES
  || path.resolve(here, '../../../target/interop/node/node_modules');
const requireFrom = createRequire(path.join(nodeModules, 'noop.js'));

async function load(name) {
  let file;
  try {
    file = requireFrom.resolve(name);
  } catch (cause) {
    throw new Error(`cannot find ${name} in ${nodeModules}: run tests/interop/install.sh \
(or set TOOLGATE_NODE_MODULES)`, { cause });
  }
  return import(pathToFileURL(file).href);
}

const { default: Provider, errors } = await load('oidc-provider');
const jose = await load('jose');

// --- configuration --------------------------------------------------------------------------

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TT_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const TT_JWT = 'urn:ietf:params:oauth:token-type:jwt';
// A non-URI audience travels through oidc-provider (which wants absolute-URI resource
// indicators) as this URN; its resource server puts the plain audience back into `aud`.
const AUDIENCE_URN = 'urn:toolgate:audience:';

const env = process.env;
const portOf = (name) => {
  const value = Number(env[name] || 0);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    fail(`${name} must be a port number, got ${JSON.stringify(env[name])}`);
  }
  return value;
};
const port = portOf('PORT');
const adminPort = env.ADMIN_PORT !== undefined && env.ADMIN_PORT !== '' ? portOf('ADMIN_PORT') : undefined;
const tls = env.TLS_CERT || env.TLS_KEY
  ? { cert: fs.readFileSync(env.TLS_CERT), key: fs.readFileSync(env.TLS_KEY) }
  : undefined;
const tokenTtl = env.TOKEN_TTL ? Number(env.TOKEN_TTL) : 300;
if (!Number.isInteger(tokenTtl) || tokenTtl <= 0) fail(`TOKEN_TTL must be a positive integer`);
const allowedAudiences = new Set((env.AUDIENCES || '').split(',').map((s) => s.trim()).filter(Boolean));
const defaultAudience = env.DEFAULT_AUDIENCE || undefined;

// oidc-provider accepts client_secret_basic and client_secret_post alike for either method.
const clients = env.CLIENTS_JSON ? JSON.parse(env.CLIENTS_JSON) : [{
  client_id: 'gateway',
  client_secret: 'gateway-secret',
  grant_types: ['client_credentials', TOKEN_EXCHANGE],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
}];

// The provider's one signing key, made at start: oidc-provider signs its JWT access tokens with
// it and publishes it at jwks_uri; exchanged tokens are issued through the same machinery.
const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), alg: 'RS256', use: 'sig' };
signingJwk.kid = await jose.calculateJwkThumbprint(signingJwk);
const { d, p, q, dp, dq, qi, ...publicJwk } = signingJwk;
const ownKeys = jose.createLocalJWKSet({ keys: [publicJwk] });

const stats = { client_credentials: 0, token_exchange: 0, exchanged_subjects: [] };

// --- listeners (bound first: the issuer names the port actually bound) ----------------------

const servers = [];

function listen(server, listenPort) {
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => {
      server.off('error', reject);
      server.on('error', (err) => console.error(`server error: ${err.stack || err}`));
      resolve(server.address().port);
    });
  });
}

function serveStats(res) {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(stats));
}

// Until the provider exists (nothing is announced before then), requests get a 503.
let app = (_req, res) => res.writeHead(503).end();
const handle = (req, res) => app(req, res);
let boundPort;
let boundAdminPort;
try {
  boundPort = await listen(tls ? https.createServer(tls, handle) : http.createServer(handle), port);
  if (adminPort !== undefined) {
    boundAdminPort = await listen(http.createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/test/stats') return serveStats(res);
      res.writeHead(404).end();
      return undefined;
    }), adminPort);
  }
} catch (err) {
  fail(`cannot listen: ${err.message}`);
}
const issuer = env.ISSUER || `${tls ? 'https' : 'http'}://127.0.0.1:${boundPort}`;

// --- resources and audiences ----------------------------------------------------------------

function isAbsoluteUri(value) {
  return URL.parse(value) !== null;
}

function audienceToResource(audience) {
  return isAbsoluteUri(audience) ? audience : AUDIENCE_URN + encodeURIComponent(audience);
}

async function getResourceServerInfo(ctx, resource) {
  let audience = resource;
  if (resource.startsWith(AUDIENCE_URN)) {
    audience = decodeURIComponent(resource.slice(AUDIENCE_URN.length));
  }
  const known = allowedAudiences.has(audience)
    || (audience === resource && /^https?:\/\//.test(resource));
  if (!known) {
    const err = new errors.InvalidTarget();
    err.error_description = `unknown audience ${JSON.stringify(audience)}`;
    throw err;
  }
  return {
    audience,
    // Whatever the client asked for is granted (the tests check scopes end to end).
    scope: ctx.oidc.params.scope || '',
    accessTokenFormat: 'jwt',
    accessTokenTTL: tokenTtl,
    jwt: { sign: { alg: 'RS256' } },
  };
}

// oidc-provider knows RFC 8707 `resource` only: rewrite the token request body so that each
// `audience` becomes a `resource` (for client_credentials and token exchange alike), and refuse
// requests that name neither (unless DEFAULT_AUDIENCE is set). Runs before oidc-provider's own
// body parser, which then reads the rewritten body from req.body.
async function audienceAsResource(ctx, next) {
  if (ctx.method !== 'POST' || ctx.path !== '/token' || !ctx.is('application/x-www-form-urlencoded')) {
    return next();
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > 64 * 1024) return oauthError(ctx, 413, 'invalid_request', 'request body too large');
    chunks.push(chunk);
  }
  const body = querystring.parse(Buffer.concat(chunks).toString('utf8'));
  if (body.grant_type === 'client_credentials' || body.grant_type === TOKEN_EXCHANGE) {
    const list = (v) => (v === undefined ? [] : [].concat(v));
    let targets = [...list(body.resource), ...list(body.audience).map(audienceToResource)];
    if (!targets.length && defaultAudience) targets = [audienceToResource(defaultAudience)];
    if (!targets.length) {
      return oauthError(ctx, 400, 'invalid_target', 'an audience or resource parameter is required');
    }
    delete body.audience;
    targets = [...new Set(targets)];
    body.resource = targets.length === 1 ? targets[0] : targets;
  }
  ctx.req.body = querystring.stringify(body);
  return next();
}

function oauthError(ctx, status, error, description) {
  ctx.status = status;
  ctx.set('cache-control', 'no-store');
  ctx.body = { error, error_description: description };
}

// --- token exchange (RFC 8693) --------------------------------------------------------------

function readTrustedKeys() {
  if (!env.TRUSTED_JWKS_FILE) throw new Error('no TRUSTED_JWKS_FILE configured');
  return jose.createLocalJWKSet(JSON.parse(fs.readFileSync(env.TRUSTED_JWKS_FILE, 'utf8')));
}

// The subject token's claims, if it is a JWT signed by this provider (with its `iss`) or by a key
// of TRUSTED_JWKS_FILE; throws otherwise. `sub` and `exp` are required, `exp`/`nbf` checked.
async function verifySubjectToken(token) {
  let claimedIssuer;
  try {
    claimedIssuer = jose.decodeJwt(token).iss;
  } catch (cause) {
    throw new Error(`not a JWT: ${cause.message}`);
  }
  const required = { requiredClaims: ['sub', 'exp'] };
  if (claimedIssuer === issuer) {
    return (await jose.jwtVerify(token, ownKeys, { ...required, issuer })).payload;
  }
  const options = env.TRUSTED_ISSUER ? { ...required, issuer: env.TRUSTED_ISSUER } : required;
  return (await jose.jwtVerify(token, readTrustedKeys(), options)).payload;
}

async function tokenExchange(ctx) {
  const { client, params } = ctx.oidc;
  for (const name of ['subject_token', 'subject_token_type']) {
    if (!params[name]) throw new errors.InvalidRequest(`missing required parameter '${name}'`);
  }
  if (![TT_JWT, TT_ACCESS_TOKEN].includes(params.subject_token_type)) {
    throw new errors.InvalidRequest(`unsupported subject_token_type ${params.subject_token_type}`);
  }
  if (params.requested_token_type && ![TT_JWT, TT_ACCESS_TOKEN].includes(params.requested_token_type)) {
    throw new errors.InvalidRequest(`unsupported requested_token_type ${params.requested_token_type}`);
  }
  if (params.actor_token) throw new errors.InvalidRequest('actor_token is not supported');
  const resources = [].concat(params.resource ?? []);
  if (resources.length !== 1) {
    throw new errors.InvalidTarget('exactly one audience or resource must be requested');
  }

  let subject;
  try {
    subject = await verifySubjectToken(params.subject_token);
  } catch (cause) {
    const err = new errors.InvalidGrant();
    err.error_description = `subject_token rejected: ${cause.message}`;
    throw err;
  }

  const { provider } = ctx.oidc;
  const token = new provider.AccessToken({
    accountId: subject.sub,
    client,
    gty: TOKEN_EXCHANGE,
    scope: params.scope || undefined,
  });
  token.resourceServer = new provider.ResourceServer(
    resources[0],
    await getResourceServerInfo(ctx, resources[0]),
  );
  ctx.oidc.entity('AccessToken', token);
  const value = await token.save();

  stats.token_exchange += 1;
  stats.exchanged_subjects.push(subject.sub);
  ctx.body = {
    access_token: value,
    issued_token_type: TT_ACCESS_TOKEN,
    token_type: 'Bearer',
    expires_in: token.expiration,
    ...(token.scope ? { scope: token.scope } : undefined),
  };
}

// --- the provider ---------------------------------------------------------------------------

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingJwk] },
  cookies: { keys: [jose.base64url.encode(crypto.getRandomValues(new Uint8Array(32)))] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      getResourceServerInfo,
    },
  },
  ttl: { AccessToken: tokenTtl, ClientCredentials: tokenTtl },
  // `act` (RFC 8693 §4.1) on exchanged tokens: the client that asked, acting for `sub`.
  extraTokenClaims: async (_ctx, token) => (
    token.gty === TOKEN_EXCHANGE ? { act: { sub: token.clientId } } : undefined
  ),
});

provider.registerGrantType(
  TOKEN_EXCHANGE,
  tokenExchange,
  ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type',
    'requested_token_type', 'audience', 'resource', 'scope'],
  ['resource'],
);

provider.on('grant.success', (ctx) => {
  if (ctx.oidc.params.grant_type === 'client_credentials') stats.client_credentials += 1;
});
for (const event of ['grant.error', 'server_error']) {
  provider.on(event, (ctx, err) => {
    const detail = err.error_description ? `: ${err.error_description}` : '';
    console.error(`${event} ${ctx.method} ${ctx.path}: ${err.message}${detail}`);
    if (event === 'server_error') console.error(err.stack);
  });
}

provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/test/stats') {
    ctx.set('cache-control', 'no-store');
    ctx.body = stats;
    return undefined;
  }
  return audienceAsResource(ctx, next);
});

app = provider.callback();

process.on('SIGTERM', () => {
  for (const server of servers) {
    server.close();
    server.closeAllConnections();
  }
  process.exit(0);
});
process.on('SIGINT', () => process.exit(0));

if (boundAdminPort !== undefined) console.log(`oauth-provider admin on http://127.0.0.1:${boundAdminPort}`);
console.log(`oauth-provider listening on ${issuer}`);

function fail(message) {
  console.error(`oauth-provider: ${message}`);
  process.exit(1);
}
