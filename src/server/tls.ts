/**
 * TLS for `ferry serve`: either the operator's certificate and key (`--tls-cert/--tls-key`),
 * or `--tls-self-signed`: a local CA and a server certificate made once and kept in
 * `DATA/tls/` (ca.crt, ca.key, server.crt, server.key; keys mode 0600). Clients trust the
 * server through `--ca DATA/tls/ca.crt` or by pinning the server certificate's SHA-256
 * fingerprint, which the server prints at every start.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { createCa, createServerCert } from './x509.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** `SHA256:AB:CD:…` of the server (leaf) certificate. */
  fingerprint: string;
  /** Where the local CA is, with --tls-self-signed. */
  caFile?: string;
  selfSigned: boolean;
}

/** `SHA256:` + the colon-separated upper-case hex SHA-256 of a certificate's DER. */
export function fingerprintOf(certPem: string): string {
  return 'SHA256:' + new X509Certificate(certPem).fingerprint256;
}

/** Renew the self-signed server certificate when it has less than this left. */
const RENEW_BEFORE_MS = 30 * 86_400_000;

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function loadTls(options: { certFile?: string; keyFile?: string; selfSigned?: boolean; dataDir: string; hostnames: string[] }): Promise<TlsMaterial | undefined> {
  if (options.certFile || options.keyFile) {
    if (!options.certFile || !options.keyFile) throw new ConfigError('--tls-cert and --tls-key go together');
    if (options.selfSigned) throw new ConfigError('--tls-self-signed cannot be combined with --tls-cert/--tls-key');
    const [cert, key] = await Promise.all([readFile(options.certFile, 'utf8'), readFile(options.keyFile, 'utf8')]).catch((err: unknown) => {
      throw new ConfigError(`cannot read the TLS certificate or key: ${(err as Error).message}`, { cause: err });
    });
    let fingerprint: string;
    try {
      fingerprint = fingerprintOf(cert);
    } catch (err) {
      throw new ConfigError(`${options.certFile} is not a PEM certificate`, { cause: err });
    }
    return { cert, key, fingerprint, selfSigned: false };
  }
  if (!options.selfSigned) return undefined;
  return selfSigned(options.dataDir, options.hostnames);
}

async function selfSigned(dataDir: string, extraHosts: string[]): Promise<TlsMaterial> {
  const dir = join(dataDir, 'tls');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = { caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
  let caCert = await readIfExists(files.caCert);
  let caKey = await readIfExists(files.caKey);
  if (!caCert || !caKey) {
    const ca = createCa({ name: `Ferry local CA (${hostname()})` });
    caCert = ca.certPem;
    caKey = ca.keyPem;
    await writeFile(files.caKey, caKey, { mode: 0o600 });
    await writeFile(files.caCert, caCert, { mode: 0o644 });
  }
  const hosts = [...new Set(['localhost', '127.0.0.1', '::1', hostname(), ...extraHosts].filter((h) => h && h !== '0.0.0.0' && h !== '::'))];
  // The names the certificate was made for are kept beside it: a new --tls-host (or a new
  // listen address) makes a new server certificate from the same CA.
  const hostsFile = join(dir, 'server.hosts');
  let cert = await readIfExists(files.cert);
  let key = await readIfExists(files.key);
  const madeFor = (await readIfExists(hostsFile))?.trim().split('\n') ?? [];
  const stale =
    !cert ||
    !key ||
    new Date(new X509Certificate(cert).validTo).getTime() - Date.now() < RENEW_BEFORE_MS ||
    !hosts.every((h) => madeFor.includes(h));
  if (stale) {
    const names = [...new Set([...hosts, ...madeFor])];
    const issued = createServerCert({ certPem: caCert, keyPem: caKey }, names);
    cert = issued.certPem;
    key = issued.keyPem;
    await writeFile(files.key, key, { mode: 0o600 });
    await writeFile(files.cert, cert, { mode: 0o644 });
    await writeFile(hostsFile, names.join('\n') + '\n');
  }
  return { cert: cert!, key: key!, fingerprint: fingerprintOf(cert!), caFile: files.caCert, selfSigned: true };
}
