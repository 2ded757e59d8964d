// A minimal relying party on openid-client, for tests/e2e/test_openid_client.py.
//
// GET /protected   logged in: 200 JSON with the ID token, its claims and userinfo;
//                  otherwise: 302 to the provider's /authorize (a pending login
//                  is remembered under the rp_login cookie).
// GET /callback    finishes the login with openid-client's own checks; on any
//                  failure 401 JSON {error, message, detail} and no session.
// GET /healthz     200 once discovery is done.
//
// Settings come from the environment: PORT, ISSUER, CLIENT_ID, CLIENT_SECRET,
// AUTH (client_secret_basic | client_secret_post), NONCE, PKCE, USERINFO
// (1 or 0), METADATA_URL: when set, the provider metadata is read from there
// instead of ISSUER's discovery document (tests route it through a proxy), and
// ID_TOKEN_ALG: when set, the client's registered id_token_signed_response_alg
// (else openid-client accepts any algorithm discovery lists).
import { randomBytes } from "node:crypto";
import http from "node:http";
import * as client from "openid-client";

const env = process.env;
const port = Number(env.PORT);
const origin = `http://localhost:${port}`;
const redirectUri = `${origin}/callback`;
const useNonce = env.NONCE !== "0";
const usePkce = env.PKCE !== "0";
const readUserinfo = env.USERINFO === "1";

function clientAuth() {
  if (env.AUTH === "client_secret_basic") return client.ClientSecretBasic(env.CLIENT_SECRET);
  if (env.AUTH === "client_secret_post") return client.ClientSecretPost(env.CLIENT_SECRET);
  throw new Error(`AUTH must be client_secret_basic or client_secret_post, got ${env.AUTH}`);
}

async function configure() {
  const metadata = { redirect_uris: [redirectUri], response_types: ["code"] };
  if (env.ID_TOKEN_ALG) metadata.id_token_signed_response_alg = env.ID_TOKEN_ALG;
  let config;
  if (env.METADATA_URL) {
    const response = await fetch(env.METADATA_URL);
    if (!response.ok) throw new Error(`metadata: HTTP ${response.status}`);
    config = new client.Configuration(await response.json(), env.CLIENT_ID, metadata, clientAuth());
    client.allowInsecureRequests(config);
  } else {
    config = await client.discovery(new URL(env.ISSUER), env.CLIENT_ID, metadata, clientAuth(), {
      execute: [client.allowInsecureRequests],
    });
  }
  // Verify ID token signatures against the JWKS too (off by default for code flow).
  client.enableNonRepudiationChecks(config);
  return config;
}

const config = await configure();
const pending = new Map(); // rp_login cookie -> {state, nonce, verifier}
const sessions = new Map(); // rp_session cookie -> what /protected shows

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie || "").split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name) out[name] = rest.join("=");
  }
  return out;
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

async function startLogin(res) {
  const id = randomBytes(16).toString("hex");
  const login = { state: client.randomState() };
  const params = { redirect_uri: redirectUri, scope: "openid", state: login.state };
  if (useNonce) params.nonce = login.nonce = client.randomNonce();
  if (usePkce) {
    login.verifier = client.randomPKCECodeVerifier();
    params.code_challenge = await client.calculatePKCECodeChallenge(login.verifier);
    params.code_challenge_method = "S256";
  }
  pending.set(id, login);
  const location = client.buildAuthorizationUrl(config, params).href;
  res.writeHead(302, { Location: location, "Set-Cookie": `rp_login=${id}; Path=/; HttpOnly` });
  res.end();
}

async function callback(req, res) {
  const id = cookies(req).rp_login;
  const login = id && pending.get(id);
  if (!login) return send(res, 400, { error: "no_pending_login", message: "no pending login" });
  pending.delete(id);
  try {
    const tokens = await client.authorizationCodeGrant(config, new URL(req.url, origin), {
      expectedState: login.state,
      expectedNonce: login.nonce,
      pkceCodeVerifier: login.verifier,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    const shown = { id_token: tokens.id_token, claims, token_type: tokens.token_type };
    if (readUserinfo) shown.userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    const sid = randomBytes(16).toString("hex");
    sessions.set(sid, shown);
    res.writeHead(302, { Location: `${origin}/protected`, "Set-Cookie": `rp_session=${sid}; Path=/; HttpOnly` });
    res.end();
  } catch (err) {
    // openid-client's messages are generic; the underlying check's is in `cause`.
    const detail = err.cause instanceof Error ? err.cause.message : "";
    send(res, 401, { error: err.code || err.name, message: String(err.message), detail });
  }
}

async function route(req, res) {
  const path = new URL(req.url, origin).pathname;
  if (path === "/healthz") return send(res, 200, { ok: true });
  if (path === "/callback") return callback(req, res);
  if (path === "/protected") {
    const shown = sessions.get(cookies(req).rp_session);
    return shown ? send(res, 200, shown) : startLogin(res);
  }
  return send(res, 404, { error: "not_found" });
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => send(res, 500, { error: "rp_error", message: String(err) }));
});
server.listen(port, "127.0.0.1", () => console.log(`rp listening on ${origin}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
