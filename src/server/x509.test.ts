import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { CA_DAYS, createCa, createServerCert } from './x509.js';

describe('x509 writer', () => {
  it('writes a CA and a server certificate that verify, with the names asked for', () => {
    const ca = createCa({ name: 'Test CA' });
    const leaf = createServerCert(ca, ['files.example', '192.0.2.1', '2001:db8::1']);
    const caX = new X509Certificate(ca.certPem);
    const x = new X509Certificate(leaf.certPem);
    expect(caX.ca).toBe(true);
    expect(x.ca).toBe(false);
    expect(x.checkIssued(caX)).toBe(true);
    expect(x.verify(caX.publicKey)).toBe(true);
    expect(caX.verify(caX.publicKey)).toBe(true);
    expect(x.subjectAltName).toBe('DNS:files.example, IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:1');
    expect(x.checkHost('files.example')).toBe('files.example');
    expect(x.checkIP('192.0.2.1')).toBe('192.0.2.1');
    expect(x.issuer).toContain('CN=Test CA');
    // 825 days (what Apple platforms accept at most), but never past the CA's end.
    const days = (d: X509Certificate) => Math.round((Date.parse(d.validTo) - Date.parse(d.validFrom)) / 86_400_000);
    expect(days(x)).toBe(Math.min(825, CA_DAYS));
    expect(days(new X509Certificate(createServerCert(createCa({ days: 3650 }), ['a.example']).certPem))).toBe(825);
  });
});

describe('name constraints of the CA', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-x509-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const ca = createCa({ name: 'Constrained CA', permitted: ['files.example', 'localhost', '192.0.2.1', '::1'] });
  const file = (name: string, pem: string): string => {
    const p = join(dir, name);
    writeFileSync(p, pem);
    return p;
  };
  const caFile = file('ca.crt', ca.certPem);
  /** `openssl verify` of a leaf for `hosts` signed by the constrained CA: its exit code and output. */
  const verify = (hosts: string[]): { ok: boolean; out: string } => {
    const leaf = file(`leaf-${hosts.join('_').replace(/[^\w.]/g, '-')}.crt`, createServerCert(ca, hosts).certPem);
    const r = spawnSync('openssl', ['verify', '-CAfile', caFile, leaf], { encoding: 'utf8' });
    if (r.error) throw r.error;
    return { ok: r.status === 0, out: r.stdout + r.stderr };
  };

  it('carries critical permitted subtrees for exactly the names and addresses asked for', () => {
    const text = execFileSync('openssl', ['x509', '-in', caFile, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+DNS:files\.example\s+DNS:localhost\s+IP:192\.0\.2\.1\/255\.255\.255\.255\s+IP:0:0:0:0:0:0:0:1\/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF\s/);
    expect(text).toMatch(/CA:TRUE, pathlen:0/);
    const unconstrained = execFileSync('openssl', ['x509', '-noout', '-text'], { input: createCa().certPem, encoding: 'utf8' });
    expect(unconstrained).not.toContain('Name Constraints');
  });

  it('a verifier honouring constraints accepts its names and refuses any other', () => {
    expect(verify(['files.example', '192.0.2.1'])).toMatchObject({ ok: true });
    expect(verify(['www.files.example'])).toMatchObject({ ok: true }); // a name below a permitted DNS name
    expect(verify(['localhost', '::1'])).toMatchObject({ ok: true });
    for (const other of [['evil.example'], ['files.example', 'bank.example'], ['192.0.2.2'], ['10.0.0.1'], ['::2'], ['notfiles.example']]) {
      const r = verify(other);
      expect(r, other.join(',')).toMatchObject({ ok: false });
      expect(r.out, other.join(',')).toMatch(/permitted subtree violation/);
    }
  });

  it("Node's TLS refuses a server certificate for another name from the constrained CA", async () => {
    const evil = createServerCert(ca, ['evil.example']);
    const good = createServerCert(ca, ['localhost']);
    const handshake = async (leaf: { certPem: string; keyPem: string }, servername: string): Promise<string> => {
      const server = createTlsServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => s.end());
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      try {
        return await new Promise<string>((resolve) => {
          const sock = tlsConnect({ host: '127.0.0.1', port, servername, ca: ca.certPem, checkServerIdentity: () => undefined }, () => {
            sock.end();
            resolve('ok');
          });
          sock.on('error', (err: Error) => resolve(err.message));
        });
      } finally {
        server.close();
      }
    };
    expect(await handshake(good, 'localhost')).toBe('ok');
    expect(await handshake(evil, 'evil.example')).toBe('permitted subtree violation');
  });

  it('is valid two years, and a server certificate never outlives its CA', () => {
    const caX = new X509Certificate(ca.certPem);
    expect(Math.round((Date.parse(caX.validTo) - Date.parse(caX.validFrom)) / 86_400_000)).toBe(CA_DAYS);
    expect(CA_DAYS).toBeLessThanOrEqual(730);
    const shortCa = createCa({ days: 100, permitted: ['localhost'] });
    const leaf = new X509Certificate(createServerCert(shortCa, ['localhost']).certPem);
    expect(Date.parse(leaf.validTo)).toBeLessThanOrEqual(Date.parse(new X509Certificate(shortCa.certPem).validTo));
  });
});
