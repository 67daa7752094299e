/**
 * TLS for `ferry serve`: either the operator's certificate and key (`--tls-cert/--tls-key`),
 * or `--tls-self-signed`: a local CA and a server certificate made once and kept in
 * `DATA/tls/` (ca.crt, ca.key, server.crt, server.key; keys mode 0600). Clients trust the
 * server through `--ca DATA/tls/ca.crt` or by pinning the server certificate's SHA-256
 * fingerprint, which the server prints at every start.
 *
 * The local CA is name-constrained to the names and addresses it was made for (kept in
 * `ca.hosts`) and valid two years: importing it into a browser trusts this server, not the
 * whole web. A new name (`--tls-host`, a new listen address), a CA about to expire, or a CA
 * made before constraints existed (no `ca.hosts`) means a new CA; `notice` then says so,
 * since clients given the old `ca.crt` need the new one.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { replaceFile } from './replace-file.js';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { unreadableFileMessage } from './operator-files.js';
import { createCa, createServerCert } from './x509.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** `SHA256:AB:CD:…` of the server (leaf) certificate. */
  fingerprint: string;
  /** Where the local CA is, with --tls-self-signed. */
  caFile?: string;
  selfSigned: boolean;
  /** Something the operator should hear at start (a new local CA replaced the old one). */
  notice?: string;
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

export async function loadTls(options: {
  certFile?: string;
  keyFile?: string;
  selfSigned?: boolean;
  dataDir: string;
  hostnames: string[];
  /** A reload: a certificate outside its validity is refused (the running one stays), not served with a notice. */
  refuseInvalid?: boolean;
}): Promise<TlsMaterial | undefined> {
  if (options.certFile || options.keyFile) {
    if (!options.certFile || !options.keyFile) throw new ConfigError('--tls-cert and --tls-key go together');
    if (options.selfSigned) throw new ConfigError('--tls-self-signed cannot be combined with --tls-cert/--tls-key');
    const cert = await readOperatorFile(options.certFile, 'the TLS certificate');
    const key = await readOperatorFile(options.keyFile, 'the TLS key');
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(cert);
    } catch (err) {
      throw new ConfigError(`${options.certFile} is not a PEM certificate`, { cause: err });
    }
    const notice = checkValidNow(x509, options.certFile, options.refuseInvalid === true);
    const fingerprint = 'SHA256:' + x509.fingerprint256;
    await checkKeyPair(cert, key, options.certFile, options.keyFile);
    return { cert, key, fingerprint, selfSigned: false, ...(notice ? { notice } : {}) };
  }
  if (!options.selfSigned) return undefined;
  return selfSigned(options.dataDir, options.hostnames);
}

async function readOperatorFile(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(unreadableFileMessage(file, err, what), { cause: err });
  }
}

/**
 * A certificate outside its validity: every client that checks it (browsers, curl, `ferry`
 * without a pinned fingerprint) refuses each connection with a TLS error the operator never
 * sees. At start it is served anyway with a loud notice (a machine booted with a wrong clock,
 * or a renewal that failed, must not keep the whole server down: clients that pin the
 * fingerprint still work); at a SIGHUP (`refuse`) the running certificate stays instead (a
 * renewal that wrote an old file changes nothing). Less than two weeks left is a notice too.
 */
function checkValidNow(cert: X509Certificate, certFile: string, refuse: boolean): string | undefined {
  const now = Date.now();
  const day = (d: string) => new Date(d).toISOString().slice(0, 10);
  const invalid =
    new Date(cert.validTo).getTime() < now
      ? `${certFile}: the TLS certificate expired on ${day(cert.validTo)}: renew it (or point tlsCert/tlsKey at a current one)`
      : new Date(cert.validFrom).getTime() > now
        ? `${certFile}: the TLS certificate is not valid before ${day(cert.validFrom)}: check this machine's clock, or use a current certificate`
        : undefined;
  if (invalid !== undefined && refuse) throw new ConfigError(`${invalid} and send SIGHUP again`);
  if (invalid !== undefined) return `${invalid}, then send SIGHUP; until then clients that check certificates refuse every connection`;
  const daysLeft = Math.floor((new Date(cert.validTo).getTime() - now) / 86_400_000);
  if (daysLeft < EXPIRY_NOTICE_DAYS) return `the TLS certificate in ${certFile} expires on ${day(cert.validTo)}, in ${daysLeft === 1 ? '1 day' : `${daysLeft} days`}: renew it, then send SIGHUP`;
  return undefined;
}

/** An operator's certificate with less than this left is announced at start (a renewal that stopped working). */
const EXPIRY_NOTICE_DAYS = 14;

/**
 * Refuses a key that is not the certificate's own, or no key at all, by name: OpenSSL's
 * "key values mismatch" reached the operator as an unexpected error (exit 70) at start, and
 * is what a certificate renewed without its new key gives at a SIGHUP. `node:tls` is loaded
 * here, only when a certificate is given: a plain-HTTP start loads no TLS module.
 */
async function checkKeyPair(cert: string, key: string, certFile: string, keyFile: string): Promise<void> {
  const { createSecureContext } = await import('node:tls');
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    const reason = (err as Error).message;
    throw new ConfigError(
      /key values mismatch/.test(reason) ? `${keyFile} is not the private key of the certificate in ${certFile}` : `${keyFile} is not a usable PEM private key for ${certFile} (${reason})`,
      { cause: err },
    );
  }
}

async function selfSigned(dataDir: string, extraHosts: string[]): Promise<TlsMaterial> {
  const dir = join(dataDir, 'tls');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = { caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), caHosts: join(dir, 'ca.hosts'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), hosts: join(dir, 'server.hosts') };
  const hosts = [...new Set(['localhost', '127.0.0.1', '::1', hostname(), ...extraHosts].filter((h) => h && h !== '0.0.0.0' && h !== '::'))];
  const lines = async (file: string): Promise<string[] | undefined> => (await readIfExists(file))?.trim().split('\n').filter(Boolean);
  // The names each certificate was made for are kept beside it: a new --tls-host (or a new
  // listen address) makes a new server certificate, and a new CA when the CA's constraints
  // do not cover it.
  const madeFor = (await lines(files.hosts)) ?? [];
  const names = [...new Set([...hosts, ...madeFor])];
  let caCert = await readIfExists(files.caCert);
  let caKey = await readIfExists(files.caKey);
  const caPermits = await lines(files.caHosts);
  let notice: string | undefined;
  const caStale = !caCert || !caKey || caPermits === undefined || !names.every((h) => caPermits.includes(h)) || expiresWithin(caCert, RENEW_BEFORE_MS);
  if (caStale) {
    if (caCert) {
      const why = caPermits === undefined ? 'the old one had no name constraints' : expiresWithin(caCert, RENEW_BEFORE_MS) ? 'the old one expires soon' : 'a new name or address was added';
      notice = `made a new local CA in ${files.caCert} (${why}); clients and browsers that trusted the old one need the new one`;
    }
    const ca = createCa({ name: `Ferry local CA (${hostname()})`, permitted: names });
    caCert = ca.certPem;
    caKey = ca.keyPem;
    await replaceFile(files.caKey, caKey, 0o600);
    await replaceFile(files.caCert, caCert, 0o644);
    await replaceFile(files.caHosts, names.join('\n') + '\n', 0o644);
  }
  let cert = await readIfExists(files.cert);
  let key = await readIfExists(files.key);
  if (caStale || !cert || !key || expiresWithin(cert, RENEW_BEFORE_MS) || !hosts.every((h) => madeFor.includes(h))) {
    const issued = createServerCert({ certPem: caCert!, keyPem: caKey! }, names);
    cert = issued.certPem;
    key = issued.keyPem;
    await replaceFile(files.key, key, 0o600);
    await replaceFile(files.cert, cert, 0o644);
    await replaceFile(files.hosts, names.join('\n') + '\n', 0o644);
  }
  return { cert: cert!, key: key!, fingerprint: fingerprintOf(cert!), caFile: files.caCert, selfSigned: true, ...(notice ? { notice } : {}) };
}

function expiresWithin(certPem: string, ms: number): boolean {
  return new Date(new X509Certificate(certPem).validTo).getTime() - Date.now() < ms;
}
