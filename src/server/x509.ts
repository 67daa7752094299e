/**
 * A minimal X.509 certificate writer (DER by hand, ECDSA P-256 with SHA-256), so that
 * `ferry serve --tls-self-signed` needs neither an openssl binary nor an npm package.
 *
 * It writes exactly two kinds of certificate: a self-signed CA (basicConstraints CA:TRUE,
 * keyCertSign) and a server certificate signed by it (CA:FALSE, serverAuth, subjectAltName
 * with DNS names and IP addresses). A browser refuses a CA certificate used directly as a
 * server certificate (Firefox: CA_CERT_USED_AS_END_ENTITY), hence the pair, as mkcert does.
 * Unlike mkcert's, the CA can carry name constraints (RFC 5280 4.2.1.10): imported into a
 * browser, it vouches only for the names and addresses it was made for, so its key, if it
 * leaked, could not impersonate any other site.
 * Field layout: RFC 5280 section 4.1.
 */
import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

// ---------------------------------------------------------------- DER

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), len(content.length), content]);
}

const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 + n, content);
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const bits = (b: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));

function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && (b[i + 1] & 0x80) === 0) i++;
  const body = b.subarray(i);
  return tlv(0x02, body[0] & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [arcs[0] * 40 + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii')) : tlv(0x18, Buffer.from(iso, 'ascii'));
}

const OID = {
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  nameConstraints: '2.5.29.30',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

function name(cn: string): Buffer {
  return seq(set(seq(oid(OID.organization), utf8('Ferry'))), set(seq(oid(OID.commonName), utf8(cn))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** keyUsage bits, most significant first: digitalSignature(0) ... keyCertSign(5), cRLSign(6). */
function keyUsage(bitsSet: number[]): Buffer {
  let v = 0;
  for (const b of bitsSet) v |= 0x80 >> b;
  let unused = 0;
  while (unused < 7 && (v & (1 << unused)) === 0) unused++;
  return tlv(0x03, Buffer.from([unused, v]));
}

function altNames(hosts: readonly string[]): Buffer {
  const names = hosts.map((h) => {
    const v = isIP(h);
    if (v === 4) return tlv(0x87, Buffer.from(h.split('.').map(Number)));
    if (v === 6) return tlv(0x87, ipv6Bytes(h));
    return tlv(0x82, Buffer.from(h, 'ascii'));
  });
  return seq(...names);
}

/**
 * nameConstraints with permittedSubtrees only: each DNS name (it and names below it, RFC 5280
 * 4.2.1.10) and each address exactly (address + all-ones mask). Listing at least one name of
 * each kind matters: a kind with no permitted subtree would be unconstrained.
 */
function nameConstraints(hosts: readonly string[]): Buffer {
  const subtrees = hosts.map((h) => {
    const v = isIP(h);
    if (v === 4) return seq(tlv(0x87, Buffer.concat([Buffer.from(h.split('.').map(Number)), Buffer.alloc(4, 0xff)])));
    if (v === 6) return seq(tlv(0x87, Buffer.concat([ipv6Bytes(h), Buffer.alloc(16, 0xff)])));
    return seq(tlv(0x82, Buffer.from(h, 'ascii')));
  });
  return seq(tlv(0xa0, Buffer.concat(subtrees)));
}

function ipv6Bytes(addr: string): Buffer {
  const [head, tail] = addr.split('::');
  const parse = (s: string | undefined): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

// ---------------------------------------------------------------- certificates

/**
 * Default validity of a CA: two years, not mkcert's ten. A CA imported into browsers and
 * forgotten is a standing risk; the server makes a new one before this runs out.
 */
export const CA_DAYS = 730;

export interface IssuedCert {
  certPem: string;
  keyPem: string;
}

interface CertSpec {
  subject: string;
  publicKey: KeyObject;
  issuer: { name: string; key: KeyObject; publicKey: KeyObject };
  days: number;
  /** The end of validity is never later than this (a certificate outliving its CA is useless). */
  notAfterMax?: Date;
  extensions: Buffer[];
  now: Date;
}

function keyId(publicKey: KeyObject): Buffer {
  // RFC 5280 4.2.1.2 allows any method that yields a unique id: SHA-1 of the whole SPKI.
  return createHash('sha1').update(publicKey.export({ type: 'spki', format: 'der' })).digest();
}

function build(spec: CertSpec): string {
  const serial = randomBytes(16);
  serial[0] &= 0x7f; // positive
  const algorithm = seq(oid(OID.ecdsaWithSHA256));
  const notBefore = new Date(spec.now.getTime() - 3600_000); // a little clock skew between peers is fine
  const notAfter = new Date(Math.min(spec.now.getTime() + spec.days * 86_400_000, spec.notAfterMax?.getTime() ?? Infinity));
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name(spec.issuer.name),
    seq(time(notBefore), time(notAfter)),
    name(spec.subject),
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(
      3,
      seq(
        ...spec.extensions,
        extension(OID.subjectKeyId, false, octets(keyId(spec.publicKey))),
        extension(OID.authorityKeyId, false, seq(tlv(0x80, keyId(spec.issuer.publicKey)))),
      ),
    ),
  );
  const signature = sign('sha256', tbs, { key: spec.issuer.key, dsaEncoding: 'der' });
  const der = seq(tbs, algorithm, bits(signature));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
}

function newKey(): { key: KeyObject; publicKey: KeyObject; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { key: privateKey, publicKey, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/**
 * A self-signed CA certificate for signing server certificates (path length 0: no
 * intermediates). With `permitted` (DNS names and IP addresses), it carries critical name
 * constraints: a verifier that honours them (browsers, OpenSSL, Node) accepts from it only
 * certificates for those names (and names below a DNS name) and exactly those addresses.
 */
export function createCa(options: { name?: string; days?: number; now?: Date; permitted?: readonly string[] } = {}): IssuedCert {
  const k = newKey();
  const cn = options.name ?? 'Ferry local CA';
  const extensions = [
    extension(OID.basicConstraints, true, seq(bool(true), integer(Buffer.from([0])))),
    extension(OID.keyUsage, true, keyUsage([5, 6])),
  ];
  if (options.permitted && options.permitted.length > 0) extensions.push(extension(OID.nameConstraints, true, nameConstraints(options.permitted)));
  const certPem = build({
    subject: cn,
    publicKey: k.publicKey,
    issuer: { name: cn, key: k.key, publicKey: k.publicKey },
    days: options.days ?? CA_DAYS,
    now: options.now ?? new Date(),
    extensions,
  });
  return { certPem, keyPem: k.keyPem };
}

/** A server certificate for `hosts` (DNS names and IP addresses), signed by `ca`, valid no longer than `ca`. */
export function createServerCert(ca: IssuedCert, hosts: readonly string[], options: { days?: number; now?: Date } = {}): IssuedCert {
  const k = newKey();
  const caKey = createPrivateKey(ca.keyPem);
  const caName = commonNameOf(ca.certPem);
  const certPem = build({
    subject: hosts[0] ?? 'ferry',
    publicKey: k.publicKey,
    issuer: { name: caName, key: caKey, publicKey: createPublicKey(caKey) },
    // 825 days: the longest Apple platforms accept for a TLS server certificate.
    days: options.days ?? 825,
    notAfterMax: new Date(new X509Certificate(ca.certPem).validTo),
    now: options.now ?? new Date(),
    extensions: [
      extension(OID.basicConstraints, true, seq()),
      extension(OID.keyUsage, true, keyUsage([0])),
      extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
      extension(OID.subjectAltName, false, altNames(hosts)),
    ],
  });
  return { certPem, keyPem: k.keyPem };
}

/** The CN of a certificate's subject (our CA's name, to write as the issuer). */
function commonNameOf(certPem: string): string {
  const line = new X509Certificate(certPem).subject.split('\n').find((l) => l.startsWith('CN='));
  return line ? line.slice(3) : 'Ferry local CA';
}
