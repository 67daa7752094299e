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
