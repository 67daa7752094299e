/**
 * Ferry entries as SFTP attributes and `ls -l` lines. Ferry keeps no owners or groups: every
 * entry reports uid and gid 0 (the long name carries the user's name instead, as OpenSSH's
 * `ls -l` prints it), and a SETSTAT's uid/gid are accepted and change nothing, as SFTPGo's
 * `setstat_mode` 2 does for stores without owners. Sending none was worse: OpenSSH's `chown`
 * and `chgrp` read the owner first and stop without one ("Can't get current ownership"),
 * and sshfs's `idmap=user` finds no remote uid to map. Modes default to 0644 for files and
 * 0755 for directories; times are whole seconds (SFTP v3 has no finer ones).
 */
import type { Entry } from '../../core/protocol.js';
import { S_IFDIR, S_IFREG, type Attrs, type NameEntry } from './sftp-packets.js';

const DEFAULT_FILE_MODE = 0o644;
const DEFAULT_DIR_MODE = 0o755;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const HALF_YEAR_MS = 182 * 86_400_000;
/** The uid and gid of every entry (users-groups-by-id@openssh.com names it: the user). */
export const OWNER_ID = 0;

export function attrsOf(e: Pick<Entry, 'type' | 'size' | 'mtime' | 'mode'>): Attrs {
  const perms = (e.mode ?? (e.type === 'dir' ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE)) & 0o7777;
  const mtime = Math.max(0, Math.floor(e.mtime / 1000));
  return { size: e.type === 'dir' ? 0 : e.size, uid: OWNER_ID, gid: OWNER_ID, permissions: (e.type === 'dir' ? S_IFDIR : S_IFREG) | perms, atime: mtime, mtime };
}

function modeString(a: Attrs): string {
  const p = a.permissions ?? 0;
  const rwx = (bits: number, special: number, s: string) => ((bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (special ? (bits & 1 ? s : s.toUpperCase()) : bits & 1 ? 'x' : '-'));
  return (
    ((p & 0o170000) === S_IFDIR ? 'd' : '-') +
    rwx((p >> 6) & 7, p & 0o4000, 's') +
    rwx((p >> 3) & 7, p & 0o2000, 's') +
    rwx(p & 7, p & 0o1000, 't')
  );
}

/** `-rw-r--r--    1 ana      ana          1234 Dec  3 12:00 name`, like OpenSSH's sftp-server. */
export function longName(name: string, a: Attrs, owner: string, now: number): string {
  const when = new Date((a.mtime ?? 0) * 1000);
  const recent = Math.abs(now - when.getTime()) < HALF_YEAR_MS;
  const day = `${MONTHS[when.getUTCMonth()]} ${String(when.getUTCDate()).padStart(2, ' ')}`;
  const time = recent ? `${String(when.getUTCHours()).padStart(2, '0')}:${String(when.getUTCMinutes()).padStart(2, '0')}` : ` ${when.getUTCFullYear()}`;
  const who = owner.slice(0, 8).padEnd(8, ' ');
  return `${modeString(a)}    1 ${who} ${who} ${String(a.size ?? 0).padStart(8, ' ')} ${day} ${time} ${name}`;
}

export function nameEntry(e: Entry, owner: string, now: number): NameEntry {
  const attrs = attrsOf(e);
  return { filename: e.name, longname: longName(e.name, attrs, owner, now), attrs };
}
