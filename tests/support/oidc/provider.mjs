// A real, certified OpenID Provider (panva/oidc-provider) for the gateway's tests.
//
//   node provider.mjs CONFIG.json        (or OIDC_TEST_CONFIG=CONFIG.json node provider.mjs)
//
// Started and configured by tests/support/oidcserver.py, which writes CONFIG.json (0600: it
// holds client secrets, user passwords and private signing keys).  Keys of the config:
//
//   issuer            "http://127.0.0.1:<port>"  (plain HTTP; no proxy in front)
//   host, port        where to listen
//   cookie_keys       [string, ...]  keys that sign the provider's cookies
//   jwks              {"keys": [private JWK, ...]}  the first RS256 key signs
//   clients           [oidc-provider client metadata (snake_case: backchannel_logout_uri and
//                     backchannel_logout_session_required too), ...]; one extra property
//                     of ours, removed before oidc-provider sees it: "consent": "auto"
//                     (default: granted without asking) | "prompt" (a real consent page)
//   users             [{sub, preferred_username, password, email, email_verified, name,
//                       groups, realm_access: {roles}, resource_access: {<client>: {roles}},
//                       ...more claims}, ...]
//   resource_servers  [{indicator, audience, scope, access_token_ttl,
//                       access_token_format: 'jwt' (default) | 'opaque'}, ...]
//   default_resource  null | indicator used when a request names no `resource`
//   ttl               {AccessToken, AuthorizationCode, IdToken, RefreshToken, ...} seconds
//
// Interaction: GET /interaction/<uid> renders a plain HTML login form (inputs `login` and
// `password`, posting to /interaction/<uid>/login).  Consent: granted automatically for
// everything requested (first-party test clients), except for clients with "consent":
// "prompt", which get a consent page after the login (form#consent-form listing the
// requested scopes in ul#scopes, button#approve posting to /interaction/<uid>/confirm, and
// button#deny posting to /interaction/<uid>/abort, which answers the client with
// error=access_denied); the grant is created only when the person approves.  Nothing secret
// is printed: stdout gets one line per request (method, path without query string, status).

import fs from 'node:fs';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const configPath = process.argv[2] || process.env.OIDC_TEST_CONFIG;
if (!configPath) {
  console.error('usage: node provider.mjs CONFIG.json');
  process.exit(2);
}
const cfg = JSON.parse(fs.readFileSync(configPath, 'utf8'));

/** Client ids whose consent is asked for ("consent": "prompt"); strips our own property
 *  from the client metadata handed to oidc-provider.  Exits on an unknown value. */
function takeConsentModes(clients) {
  const prompted = new Set();
  for (const client of clients) {
    const mode = client.consent ?? 'auto';
    delete client.consent;
    if (mode === 'prompt') {
      prompted.add(client.client_id);
    } else if (mode !== 'auto') {
      console.error(`client ${client.client_id}: consent must be "auto" or "prompt", `
        + `not ${JSON.stringify(mode)}`);
      process.exit(2);
    }
  }
  return prompted;
}

const consentPrompted = takeConsentModes(cfg.clients);

const users = new Map(cfg.users.map((u) => [String(u.sub), u]));
const PRIVATE_USER_FIELDS = new Set(['password']);
const ACCESS_TOKEN_USER_CLAIMS = [
  'preferred_username', 'email', 'email_verified', 'name', 'groups', 'realm_access',
  'resource_access',
];

function findUserByLogin(login) {
  for (const u of users.values()) {
    if (u.preferred_username === login || u.email === login || String(u.sub) === login) {
      return u;
    }
  }
  return undefined;
}

function publicClaims(user) {
  const claims = {};
  for (const [k, v] of Object.entries(user)) {
    if (!PRIVATE_USER_FIELDS.has(k)) claims[k] = v;
  }
  claims.sub = String(user.sub);
  return claims;
}

const resourceServers = new Map(
  (cfg.resource_servers || []).map((rs) => [rs.indicator, rs]),
);

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

// Just enough style for the screenshots to read like an IdP's pages.
const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}
form{margin:1rem 0}label{display:block;margin:.5rem 0}
input{display:block;font:inherit;padding:.4rem;width:100%;box-sizing:border-box}
button{font:inherit;padding:.5rem 1.2rem;margin:.5rem .5rem 0 0}.error{color:#b00020}
.scopes li{margin:.3rem 0}.actions{display:flex;flex-wrap:wrap;gap:.5rem}.actions form{margin:0}`;

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

function loginPage(uid, details, error) {
  const client = details.params.client_id;
  const login = details.lastSubmission?.login?.login || details.params.login_hint || '';
  return page('Sign in', `
${error ? `<p id="error" class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<p>Client: <code id="client">${escapeHtml(client)}</code></p>
<form id="login-form" method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
  <label>Username <input type="text" name="login" id="login" value="${escapeHtml(login)}" required autofocus></label>
  <label>Password <input type="password" name="password" id="password" required></label>
  <button type="submit" id="submit" name="submit" value="login">Sign in</button>
</form>
<form id="abort-form" method="post" action="/interaction/${escapeHtml(uid)}/abort">
  <button type="submit" id="abort">Cancel</button>
</form>`);
}

const SCOPE_TEXT = {
  openid: 'sign you in (your account id)',
  profile: 'your name and username',
  email: 'your email address',
  groups: 'your groups and roles',
  offline_access: 'stay signed in while you are away',
};

/** The requested scopes/claims still missing from the grant, as [label, text] pairs. */
function requestedItems(missing) {
  const items = (missing.missingOIDCScope || []).map((s) => [s, SCOPE_TEXT[s] || 'scope']);
  for (const claim of missing.missingOIDCClaims || []) items.push([claim, 'claim']);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    for (const s of scopes) items.push([s, `at ${indicator}`]);
  }
  return items;
}

/** The consent page: what the client asks for, approve (confirm) or deny (abort). */
function consentPage(uid, details) {
  const items = requestedItems(details.prompt.details);
  const list = items.map(([name, text]) => `  <li data-scope="${escapeHtml(name)}">`
    + `<code>${escapeHtml(name)}</code>: ${escapeHtml(text)}</li>`).join('\n');
  return page('Allow access?', `
<p>The application <code id="client">${escapeHtml(details.params.client_id)}</code> asks for:</p>
<ul id="scopes" class="scopes">
${list}
</ul>
<div class="actions">
<form id="consent-form" method="post" action="/interaction/${escapeHtml(uid)}/confirm">
  <button type="submit" id="approve" name="consent" value="yes">Allow</button>
</form>
<form id="deny-form" method="post" action="/interaction/${escapeHtml(uid)}/abort">
  <button type="submit" id="deny">Deny</button>
</form>
</div>`);
}

const configuration = {
  clients: cfg.clients,
  jwks: cfg.jwks,
  cookies: { keys: cfg.cookie_keys },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'given_name', 'family_name', 'nickname', 'locale', 'updated_at'],
    email: ['email', 'email_verified'],
    groups: ['groups', 'realm_access', 'resource_access'],
  },
  // The scope-derived claims go into the ID token even when an access token is issued too.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  responseTypes: ['code'],
  // oidc-provider's outgoing calls (back-channel logout tokens) refuse loopback addresses
  // (SSRF protection); the gateway under test listens on 127.0.0.1, so this test provider
  // drops that dispatcher. A real IdP's call goes to the gateway's public URL.
  fetch: (url, options) => {
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
  features: {
    devInteractions: { enabled: false },
    introspection: {
      enabled: true,
      // Confidential clients may introspect any token, public ones only their own.
      allowedPolicy: async (ctx, client, token) => client.clientAuthMethod !== 'none'
        || token.clientId === client.clientId,
    },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    // OpenID Connect Back-Channel Logout 1.0: a client with `backchannel_logout_uri` gets a
    // logout token posted there when a session it took part in ends (RP-initiated logout);
    // with `backchannel_logout_session_required` its ID tokens and logout tokens carry `sid`.
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        // `form` is oidc-provider's <form id="op.logoutForm"> with its xsrf input.
        ctx.body = page('Sign out', `${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" id="logout">Sign out</button>
<button type="submit" form="op.logoutForm" id="stay">Stay signed in</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Signed out', '<p id="signed-out">You are signed out.</p>');
      },
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => {
        if (oneOf) return oneOf;
        return cfg.default_resource || undefined;
      },
      // A code/refresh token granted for a resource yields access tokens for it.
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, indicator) => {
        const rs = resourceServers.get(indicator);
        if (!rs) throw new errors.InvalidTarget();
        return {
          scope: rs.scope || '',
          audience: rs.audience || indicator,
          accessTokenTTL: rs.access_token_ttl || 600,
          ...(rs.access_token_format === 'opaque'
            ? { accessTokenFormat: 'opaque' }
            : { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
        };
      },
    },
  },
  findAccount: async (ctx, sub) => {
    const user = users.get(String(sub));
    if (!user) return undefined;
    return {
      accountId: String(user.sub),
      // oidc-provider filters these by the granted scopes/claims.
      claims: async () => publicClaims(user),
    };
  },
  // Keycloak-like: user and role claims in JWT access tokens (and in introspection).
  extraTokenClaims: async (ctx, token) => {
    if (!token.accountId || token.kind !== 'AccessToken') return undefined;
    const user = users.get(String(token.accountId));
    if (!user) return undefined;
    const extra = {};
    for (const k of ACCESS_TOKEN_USER_CLAIMS) {
      if (user[k] !== undefined) extra[k] = user[k];
    }
    return extra;
  },
  // Refresh tokens for every client allowed the grant, without offline_access (Keycloak-like).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  // Auto-consent: grant whatever the (first-party, test) client asks for; a "consent":
  // "prompt" client gets only what the person approved on the consent page.
  loadExistingGrant: async (ctx) => {
    const { oidc } = ctx;
    let grant = await existingGrant(oidc);
    if (consentPrompted.has(oidc.client.clientId)) return grant;
    grant ||= new oidc.provider.Grant({
      accountId: oidc.account.accountId,
      clientId: oidc.client.clientId,
    });
    const scopes = [...oidc.requestParamOIDCScopes];
    if (scopes.length) grant.addOIDCScope(scopes.join(' '));
    const claims = [...oidc.requestParamClaims];
    if (claims.length) grant.addOIDCClaims(claims);
    for (const [indicator, rs] of Object.entries(oidc.resourceServers || {})) {
      const rsScopes = [...oidc.requestParamScopes].filter((s) => rs.scopes.has(s));
      grant.addResourceScope(indicator, rsScopes.join(' '));
    }
    await grant.save();
    return grant;
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Error', `<pre id="error">${escapeHtml(JSON.stringify(out, null, 2))}</pre>`);
  },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    DeviceCode: 600,
    BackchannelAuthenticationRequest: 600,
    Grant: 3600,
    IdToken: 600,
    Interaction: 600,
    RefreshToken: 3600,
    Session: 3600,
    ...(cfg.ttl || {}),
  },
};

/** The grant this session already holds for this client and account, if any. */
async function existingGrant(oidc) {
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  const grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (grant && grant.accountId === oidc.account.accountId
      && grant.clientId === oidc.client.clientId) {
    return grant;
  }
  return undefined;
}

const provider = new Provider(cfg.issuer, configuration);

provider.on('server_error', (ctx, err) => {
  console.error(`server_error ${ctx.method} ${ctx.path}: ${err.stack || err}`);
});
provider.on('backchannel.success', (ctx, client) => {
  console.log(`backchannel.success ${client.clientId}`);
});
// Client-visible errors, with their (otherwise hidden) cause: debugging help for tests.
for (const event of ['authorization.error', 'backchannel.error', 'end_session.error',
  'grant.error', 'introspection.error', 'jwks.error', 'discovery.error',
  'pushed_authorization_request.error', 'registration_create.error', 'revocation.error',
  'userinfo.error']) {
  provider.on(event, (ctx, err) => {
    const cause = err.cause ? ` (cause: ${err.cause.message || err.cause})` : '';
    console.log(`${event} ${err.error || err.name}: ${err.error_description || err.message}${cause}`);
  });
}

// -- interactions ------------------------------------------------------------------

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 65536) {
        reject(new Error('request body too large'));
        req.destroy();
      } else {
        chunks.push(c);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(html);
}

/** Grant everything the interaction's prompt says is missing; the saved grant's id. */
async function grantRequested(details) {
  const { prompt: { details: missing }, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;

async function interaction(req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    send(res, 400, page('Error', `<p id="error">${escapeHtml(err.message)}</p>`));
    return;
  }
  if (details.uid !== uid) {
    send(res, 400, page('Error', '<p id="error">interaction mismatch</p>'));
    return;
  }
  const promptName = details.prompt.name;
  if (!action && req.method === 'GET') {
    if (promptName === 'consent' && consentPrompted.has(details.params.client_id)) {
      send(res, 200, consentPage(uid, details));
      return;
    }
    if (promptName === 'consent') {
      const grantId = await grantRequested(details);
      await provider.interactionFinished(req, res, { consent: { grantId } },
        { mergeWithLastSubmission: true });
      return;
    }
    send(res, 200, loginPage(uid, details));
    return;
  }
  if (req.method !== 'POST') {
    send(res, 405, page('Error', '<p id="error">method not allowed</p>'));
    return;
  }
  if (action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: promptName === 'consent' ? 'End-User refused consent'
        : 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (action === 'confirm') {
    if (promptName !== 'consent') {
      send(res, 400, page('Error', '<p id="error">no consent is being asked for</p>'));
      return;
    }
    const grantId = await grantRequested(details);
    console.log(`consent given to ${JSON.stringify(details.params.client_id)}`);
    await provider.interactionFinished(req, res, { consent: { grantId } },
      { mergeWithLastSubmission: true });
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  const login = form.get('login') || '';
  const password = form.get('password') || '';
  const user = findUserByLogin(login);
  if (!user || typeof user.password !== 'string' || user.password !== password) {
    console.log(`login refused for ${JSON.stringify(login)}`);
    send(res, 401, loginPage(uid, { ...details, lastSubmission: { login: { login } } },
      'Invalid username or password.'));
    return;
  }
  console.log(`login ok for ${JSON.stringify(login)} (sub ${user.sub})`);
  await provider.interactionFinished(req, res, {
    login: { accountId: String(user.sub), amr: ['pwd'], remember: true },
  }, { mergeWithLastSubmission: false });
}

const providerCallback = provider.callback();

const server = http.createServer(async (req, res) => {
  const path = (req.url || '/').split('?', 1)[0];
  res.on('finish', () => console.log(`${req.method} ${path} ${res.statusCode}`));
  const m = INTERACTION.exec(path);
  if (!m) {
    providerCallback(req, res);
    return;
  }
  try {
    await interaction(req, res, m[1], m[2]);
  } catch (err) {
    console.error(`interaction error ${req.method} ${path}: ${err.stack || err}`);
    if (!res.headersSent) {
      send(res, err.statusCode || 500,
        page('Error', `<p id="error">${escapeHtml(err.error || err.message)}</p>`));
    } else {
      res.end();
    }
  }
});

server.on('error', (err) => {
  console.error(`listen error: ${err.code || ''} ${err.message}`);
  process.exit(3);
});

server.listen(cfg.port, cfg.host || '127.0.0.1', () => {
  const kids = (cfg.jwks.keys || []).map((k) => k.kid).join(',');
  console.log(`oidc-provider ${cfg.issuer} ready: ${cfg.clients.length} client(s), `
    + `${users.size} user(s), signing kids ${kids}; node ${process.version}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
