// A real OpenID provider (panva/oidc-provider) for reqtest's tests, on
// 127.0.0.1 with an ephemeral port. Prints {"issuer": ...} once listening
// and stops when its standard input closes.
//
// Clients:
//   reqtest-cc     confidential, client_credentials, client_secret_basic
//   reqtest-pkce   public (native), authorization_code + refresh_token, PKCE
// Access tokens live 2 seconds so that renewal happens during a run.
// GET /api/whoami is a protected resource that checks bearer tokens against
// the provider's own store; GET /stats counts grants and rejected tokens.
import http from 'node:http';
import Provider from 'oidc-provider';

const stats = { grants: {}, rejected: 0 };
let provider;

const server = http.createServer(async (req, res) => {
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.url === '/stats') return send(200, stats);
  if (req.url.startsWith('/api/whoami')) {
    const auth = req.headers.authorization || '';
    const value = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const token = value
      && ((await provider.AccessToken.find(value)) || (await provider.ClientCredentials.find(value)));
    if (!token || token.isExpired) {
      stats.rejected += 1;
      return send(401, { error: 'invalid_token', error_description: 'invalid or expired access token' });
    }
    return send(200, { client_id: token.clientId, sub: token.accountId || null, scope: token.scope || '' });
  }
  return provider.callback()(req, res);
});

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'reqtest-cc',
        client_secret: 'cc-secret',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'reqtest-pkce',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1:9/callback'],
      },
    ],
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: true },
    },
    ttl: { AccessToken: 2, ClientCredentials: 2, AuthorizationCode: 60, RefreshToken: 3600, IdToken: 3600, Grant: 3600, Session: 3600, Interaction: 600 },
    issueRefreshToken: async () => true,
    scopes: ['openid', 'email', 'offline_access'],
    claims: { openid: ['sub'], email: ['email'] },
    findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id, email: `${id}@example.com` }) }),
    cookies: { keys: ['reqtest-fixture-cookie-key'] },
  });
  provider.on('grant.success', (ctx) => {
    const type = ctx.oidc.params.grant_type;
    stats.grants[type] = (stats.grants[type] || 0) + 1;
  });
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
