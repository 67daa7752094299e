/**
 * CIDR lists (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`) over node:net's BlockList, which
 * matches subnets natively. Used for the global allow/deny lists, each user's own lists and
 * the defender's safe list.
 */
import { BlockList, isIP } from 'node:net';
import { ValidationError } from '../core/errors.js';

/** `::ffff:192.0.2.1` (how a dual-stack socket reports IPv4 peers) -> `192.0.2.1`. */
export function normalizeIp(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1] : ip;
}

/**
 * The key an address is counted, limited and banned under: an IPv4 address itself, an IPv6
 * address's /64 (`2001:db8:1:2::/64`). One IPv6 subscriber (a home line, a cloud VM) is
 * handed a whole /64 and may send from any of its 2^64 addresses, so counting each address
 * alone let one client walk past every per-address limit: password attempts on share links
 * and logins, the defender's bans, connections per address. Loopback stays `::1`. Taking a
 * key again returns it unchanged.
 */
export function addressKey(ip: string): string {
  const a = normalizeIp(ip);
  if (a.endsWith('/64') && isIP(a.slice(0, -3)) === 6) return a;
  if (isIP(a) !== 6 || a === '::1') return a;
  const [head, tail = ''] = a.split('%')[0].split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (`::1.2.3.4`) is two groups, both past the /64.
  const rightGroups = right.length > 0 && right[right.length - 1].includes('.') ? right.length + 1 : right.length;
  const groups = a.includes('::') ? [...left, ...Array<string>(8 - left.length - rightGroups).fill('0'), ...right] : left;
  // The WHATWG URL parser writes the network address in its canonical form (RFC 5952).
  const network = new URL(`http://[${groups.slice(0, 4).join(':')}::]`).hostname.slice(1, -1);
  return `${network}/64`;
}

export function isLoopback(ip: string): boolean {
  const a = normalizeIp(ip);
  return a === '::1' || /^127\./.test(a);
}

/** Validates one entry and returns it in canonical text form. */
export function parseCidr(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const text = entry.trim();
  const slash = text.indexOf('/');
  const address = normalizeIp(slash === -1 ? text : text.slice(0, slash));
  const v = isIP(address);
  if (v === 0) throw new ValidationError(`not an IP address or CIDR range: ${JSON.stringify(entry)}`);
  const max = v === 4 ? 32 : 128;
  const prefix = slash === -1 ? max : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (slash !== -1 && !/^\d+$/.test(text.slice(slash + 1)))) {
    throw new ValidationError(`bad prefix length in ${JSON.stringify(entry)} (0 to ${max})`);
  }
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

export class CidrList {
  private readonly list = new BlockList();
  readonly entries: string[];

  constructor(entries: readonly string[]) {
    this.entries = [];
    for (const e of entries) {
      if (e.trim() === '') continue;
      const { address, prefix, family } = parseCidr(e);
      this.list.addSubnet(address, prefix, family);
      this.entries.push(`${address}/${prefix}`);
    }
  }

  get empty(): boolean {
    return this.entries.length === 0;
  }

  has(ip: string): boolean {
    if (this.empty) return false;
    const a = normalizeIp(ip);
    const v = isIP(a);
    if (v === 0) return false;
    return this.list.check(a, v === 4 ? 'ipv4' : 'ipv6');
  }

  /** Comma-separated form for the metadata store. */
  static serialize(entries: readonly string[]): string | null {
    const list = new CidrList(entries);
    return list.empty ? null : list.entries.join(',');
  }

  static deserialize(text: string | null): string[] {
    return text ? text.split(',').filter(Boolean) : [];
  }
}

/**
 * An allow list and a deny list together: denied if on the deny list, or if the allow list
 * is not empty and the address is not on it.
 */
export class IpPolicy {
  readonly allow: CidrList;
  readonly deny: CidrList;

  constructor(allow: readonly string[], deny: readonly string[]) {
    this.allow = new CidrList(allow);
    this.deny = new CidrList(deny);
  }

  permits(ip: string): boolean {
    if (this.deny.has(ip)) return false;
    return this.allow.empty || this.allow.has(ip);
  }
}
