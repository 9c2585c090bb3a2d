// A local OpenID provider for Tracepipe's sign-in tests: the certified
// `oidc-provider` package with one test account, two confidential clients and
// a plain HTML login form. Started by scripts/services/oidc.sh, which passes
// every setting in the environment:
//
//   OIDC_PORT           port on 127.0.0.1; the issuer is http://127.0.0.1:<port>
//   OIDC_CLIENT_ID      the client whose ID tokens are signed with RS256;
//                       "<OIDC_CLIENT_ID>-es256" gets ES256 ones
//   OIDC_CLIENT_SECRET  both clients' secret (client_secret_basic or _post)
//   OIDC_USER_EMAIL     the one account's email (sub is derived from it)
//   OIDC_USER_PASSWORD  its password
//
// Secrets are never logged. Signing keys and cookie keys are generated at each
// start: relying parties fetch the JWKS again, as they do after a rotation.
import { createServer } from 'node:http';
import { createHash, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';

import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`oidc test provider: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const port = Number(required('OIDC_PORT'));
const clientId = required('OIDC_CLIENT_ID');
const clientSecret = required('OIDC_CLIENT_SECRET');
const userEmail = required('OIDC_USER_EMAIL');
const userPassword = required('OIDC_USER_PASSWORD');
const issuer = `http://127.0.0.1:${port}`;

// A stable subject for the account, as a real provider would give: opaque,
// not the email.
const userSub = createHash('sha256').update(`tracepipe-test:${userEmail}`).digest('hex').slice(0, 24);
const account = {
  sub: userSub,
  email: userEmail,
  email_verified: true,
  name: 'Ada Lovelace',
};

function privateJwk(type, options, alg, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid };
}

// Native clients may use loopback redirect URIs on any port (RFC 8252 §7.3):
// oidc-provider ignores the port when it compares them, so tests can listen
// wherever they like.
function client(id, idTokenAlg) {
  return {
    client_id: id,
    client_secret: clientSecret,
    application_type: 'native',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [
      'http://127.0.0.1/auth/oidc/callback',
      'http://localhost/auth/oidc/callback',
    ],
    id_token_signed_response_alg: idTokenAlg,
  };
}

const configuration = {
  clients: [client(clientId, 'RS256'), client(`${clientId}-es256`, 'ES256')],
  jwks: {
    keys: [
      privateJwk('rsa', { modulusLength: 2048 }, 'RS256', `rs-${randomBytes(4).toString('hex')}`),
      privateJwk('ec', { namedCurve: 'P-256' }, 'ES256', `es-${randomBytes(4).toString('hex')}`),
    ],
  },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // Put the scopes' claims in the ID token too, as most hosted providers do,
  // so a relying party needs no userinfo call.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
  },
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  async findAccount(_ctx, sub) {
    if (sub !== account.sub) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { ...account };
      },
    };
  },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
};

const provider = new Provider(issuer, configuration);

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sameSecret(given, expected) {
  const a = createHash('sha256').update(String(given)).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function loginPage(uid, clientName, error) {
  const message = error ? `<p role="alert">${escapeHtml(error)}</p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - test provider</title></head>
<body>
<h1>Sign in to ${escapeHtml(clientName)}</h1>
${message}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Email <input type="email" name="email" autocomplete="username" required></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
</body></html>`;
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

// Both clients are first-party, so the account consents to what they ask
// for without a page. (Native clients always get the consent prompt; this
// answers it.)
async function grantConsent(req, res, details) {
  const { prompt, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  const grantId = await grant.save();
  const consent = details.grantId ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

// /interaction/<uid> (GET: the login form, or consent given at once) and
// /interaction/<uid>/login (POST: the form's answer).
async function interaction(req, res, path) {
  const details = await provider.interactionDetails(req, res);
  const uid = details.uid;
  if (req.method === 'GET' && path === `/interaction/${uid}` && details.prompt.name === 'consent') {
    await grantConsent(req, res, details);
    return;
  }
  if (req.method === 'GET' && path === `/interaction/${uid}`) {
    send(res, 200, loginPage(uid, details.params.client_id));
    return;
  }
  if (req.method === 'POST' && path === `/interaction/${uid}/login`) {
    const form = await readForm(req);
    const emailMatches = sameSecret((form.get('email') || '').toLowerCase(), userEmail.toLowerCase());
    const passwordMatches = sameSecret(form.get('password') || '', userPassword);
    if (!(emailMatches && passwordMatches)) {
      send(res, 401, loginPage(uid, details.params.client_id, 'Wrong email or password.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  send(res, 404, '<!doctype html><title>Not found</title><p>Not found</p>');
}

const handleProvider = provider.callback();
const server = createServer((req, res) => {
  const path = new URL(req.url, issuer).pathname;
  if (path.startsWith('/interaction/')) {
    interaction(req, res, path).catch((err) => {
      console.error(`interaction failed: ${err.name}: ${err.message}`);
      if (!res.headersSent) send(res, 400, `<!doctype html><title>Error</title><p>${escapeHtml(err.message)}</p>`);
    });
    return;
  }
  handleProvider(req, res);
});

provider.on('server_error', (_ctx, err) => console.error(`server_error: ${err.message}`));

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc test provider: issuer ${issuer}, clients ${clientId} (RS256), ${clientId}-es256 (ES256)`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
