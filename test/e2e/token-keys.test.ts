import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

const AUDIENCE = 'pushwire-tests';
const ISSUER = 'https://app.example';

/** A JWKS on loopback whose keys the test changes, counting the fetches. */
class JwksServer {
  keys: JWK[] = [];
  fetches = 0;
  private readonly server: Server = createServer((_req, res) => {
    this.fetches++;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ keys: this.keys }));
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function publicJwk(pair: KeyPair, kid: string, alg: string): Promise<JWK> {
  return { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' };
}

interface Claims {
  readonly sub?: string;
  readonly aud?: string;
  readonly iss?: string;
  /** Seconds from now. */
  readonly exp?: number;
  /** Seconds from now; null: no iat. */
  readonly iat?: number | null;
}

function sign(pair: KeyPair, alg: string, kid: string, claims: Claims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ channels: ['k:*'] })
    .setProtectedHeader({ alg, kid })
    .setSubject(claims.sub ?? 'ada')
    .setAudience(claims.aud ?? AUDIENCE)
    .setIssuer(claims.iss ?? ISSUER)
    .setExpirationTime(now + (claims.exp ?? 600));
  if (claims.iat !== null) jwt.setIssuedAt(now + (claims.iat ?? 0));
  return jwt.sign(pair.privateKey);
}

/** The status and error code of a stream connection with `token`. */
async function connect(
  server: RunningPushwire,
  token: string,
): Promise<{ status: number; code: string | null }> {
  const response = await fetch(`${server.url}/stream?channel=k:a&token=${token}`);
  if (response.status === 200) {
    await response.body?.cancel();
    return { status: 200, code: null };
  }
  const { error } = (await response.json()) as { error: { code: string } };
  return { status: response.status, code: error.code };
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('token keys from a JWKS', () => {
  const jwks = new JwksServer();
  let server: RunningPushwire;
  let rsa: KeyPair;
  let rotated: KeyPair;
  let ec: KeyPair;

  before(async () => {
    [rsa, rotated, ec] = await Promise.all([
      generateKeyPair('RS256'),
      generateKeyPair('RS256'),
      generateKeyPair('ES256'),
    ]);
    jwks.keys = [await publicJwk(rsa, 'rsa-1', 'RS256'), await publicJwk(ec, 'ec-1', 'ES256')];
    const url = await jwks.start();
    server = await startPushwire({
      args: [
        '--token-jwks-url',
        url,
        '--token-audience',
        AUDIENCE,
        '--token-issuer',
        ISSUER,
        '--token-max-age',
        '1h',
      ],
    });
  });
  after(async () => {
    await server?.stop();
    await jwks.stop();
  });

  test('RS256 and ES256 tokens signed by keys of the JWKS connect', async () => {
    assert.deepEqual(await connect(server, await sign(rsa, 'RS256', 'rsa-1')), { status: 200, code: null });
    assert.deepEqual(await connect(server, await sign(ec, 'ES256', 'ec-1')), { status: 200, code: null });
  });

  test('a wrong aud or iss, a lifetime over the max age or no iat are refused 401', async () => {
    for (const claims of [
      { aud: 'another-app' },
      { iss: 'https://evil.example' },
      { exp: 7200 },
      { iat: null },
    ]) {
      const result = await connect(server, await sign(rsa, 'RS256', 'rsa-1', claims));
      assert.deepEqual(result, { status: 401, code: 'unauthorized' }, JSON.stringify(claims));
    }
  });

  test('alg confusion: HS256 keyed with the public key, alg none, a key used with another alg', async () => {
    const pem = await exportSPKI(rsa.publicKey);
    const header = base64url({ alg: 'HS256', kid: 'rsa-1' });
    const now = Math.floor(Date.now() / 1000);
    const payload = base64url({
      sub: 'ada',
      aud: AUDIENCE,
      iss: ISSUER,
      iat: now,
      exp: now + 600,
      channels: ['k:*'],
    });
    const hmac = createHmac('sha256', pem).update(`${header}.${payload}`).digest('base64url');
    assert.equal(
      (await connect(server, `${header}.${payload}.${hmac}`)).status,
      401,
      'HS256 with the public key',
    );
    const none = `${base64url({ alg: 'none' })}.${payload}.`;
    assert.equal((await connect(server, none)).status, 401, 'alg none');
    // The EC key of the set, named by its kid, with a token that claims RS256.
    const lying = await sign(rsa, 'RS256', 'ec-1');
    assert.equal((await connect(server, lying)).status, 401, 'a kid of another key type');
  });

  test('a key rotated into the JWKS is fetched when a token names its kid, without a restart', async () => {
    const before = jwks.fetches;
    const token = await sign(rotated, 'RS256', 'rsa-2');
    assert.equal((await connect(server, token)).status, 401, 'an unknown key is refused');
    jwks.keys = [await publicJwk(rotated, 'rsa-2', 'RS256')];
    // The set is refetched for an unknown kid at most every few seconds: retry until then.
    let status = 0;
    for (let attempt = 0; attempt < 60 && status !== 200; attempt++) {
      status = (await connect(server, token)).status;
      if (status !== 200) await delay(500);
    }
    assert.equal(status, 200, 'the rotated key is taken');
    assert.ok(jwks.fetches > before, 'the set was fetched again');
    assert.ok(jwks.fetches - before <= 3, `a few fetches, not one per token: ${jwks.fetches - before}`);
  });
});

describe('token keys from a PEM file', () => {
  let server: RunningPushwire;
  let ed: KeyPair;
  let rsa: KeyPair;

  before(async () => {
    [ed, rsa] = await Promise.all([generateKeyPair('EdDSA'), generateKeyPair('RS256')]);
    const file = join(tmpdir(), `pushwire-test-ed25519-${process.pid}.pem`);
    writeFileSync(file, await exportSPKI(ed.publicKey));
    server = await startPushwire({ args: ['--token-public-key', file] });
  });
  after(async () => {
    await server?.stop();
  });

  test('an Ed25519 key verifies EdDSA tokens and nothing else', async () => {
    const unchecked = { aud: 'any', iss: 'any' };
    assert.equal((await connect(server, await sign(ed, 'EdDSA', 'k', unchecked))).status, 200);
    assert.equal((await connect(server, await sign(rsa, 'RS256', 'k', unchecked))).status, 401);
  });
});
