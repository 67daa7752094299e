import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCa, createServerCert } from './x509.js';

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
    const days = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 86_400_000;
    expect(Math.round(days)).toBe(825);
  });
});
