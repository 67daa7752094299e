/**
 * `ferry share PATH`: a link that works in a browser and with curl, without an account;
 * `ferry share ls`, `ferry share revoke ID`.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import type { CreateShareRequest, ShareInfo } from '../../core/protocol.js';
import { countOf, formatSize, parseSize } from '../../core/units.js';
import { addConnectionOptions, addLoginOptions, durationArg, withClient, withServer, printJson, type ConnectionOpts } from '../options.js';
import { resolveServerLocation } from '../location.js';
import { closePrompts, promptNewPassword, stdinLine } from '../prompt.js';
import { table, when } from '../table.js';
import { addE2eOptions, type E2eOpts } from '../e2e-flags.js';
import { terminalSafe } from '../terminal-text.js';

/** --expires in whole seconds, refused here below one (the server's `must be >= 1` names no flag). */
function expirySeconds(v: string): number {
  const ms = durationArg(v);
  if (ms < 1000) throw new InvalidArgumentError('--expires must be at least 1s (leave it out for a link that does not expire)');
  // The server's own refusal named its field (expiresInSeconds may be at most 31536000).
  if (ms > MAX_LINK_DAYS * 86_400_000) throw new InvalidArgumentError(`--expires may be at most ${MAX_LINK_DAYS}d (a link lives a year at most)`);
  return Math.round(ms / 1000);
}

const MAX_LINK_DAYS = 365;

/**
 * The expiry fact of a link made at `madeAt`: a link never outlives the token that made it,
 * so one asked for longer (or for no expiry) ends with the token, which is said: it looked
 * like --expires 200d was misread as 90 days, the lifetime of a `ferry login` token.
 */
function expiryFact(expiresAt: number | null, askedSeconds: number | undefined, madeAt: number): string {
  if (expiresAt === null) return 'no expiry';
  const cut = askedSeconds === undefined || expiresAt < madeAt + askedSeconds * 1000 - CLOCK_SLACK_MS;
  return `expires ${when(expiresAt)}${cut ? ' (when the token that made it expires: a link never outlives it; ferry whoami shows it)' : ''}`;
}

/** How far the server's clock may be behind this one before a link's expiry reads as cut short. */
const CLOCK_SLACK_MS = 5 * 60_000;

interface ShareOpts extends ConnectionOpts, E2eOpts {
  json?: boolean;
  quiet?: boolean;
  expires?: number;
  password?: boolean;
  passwordStdin?: boolean;
  maxDownloads?: number;
  maxBytes?: number;
  upload?: boolean;
  name?: string;
  all?: boolean;
}

const sizeOption = (v: string): number => {
  let n: number;
  try {
    n = parseSize(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('--max-bytes must be a size of at least 1 byte (500M, 2G, ...)');
  return n;
};

const positive = (what: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a whole number >= 1`);
  return n;
};

export function registerShare(program: Command): void {
  const share = program
    .command('share')
    .description('share links: ferry share PATH (short for ferry share create PATH: --expires, --password, --max-downloads, --upload, --max-bytes; see ferry share create --help), ferry share ls, ferry share revoke ID');

  const create = share
    .command('create', { isDefault: true })
    .description('make a link to a file or folder (or, with --upload, one that takes files into a folder)')
    .argument('<path>')
    .option('--expires <duration>', 'the link stops working after this (24h, 7d, ... 365d at most; none: when revoked), and never after the token making it', expirySeconds)
    .option('--password', 'ask visitors for a password (asked for here, twice)')
    .option('--password-stdin', 'the password from the first line of stdin')
    .option('--max-downloads <n>', 'the link stops after this many downloads (uploads with --upload)', positive('--max-downloads'))
    .option('--upload', 'an upload link ("file request"): visitors send files into the folder')
    .option('--max-bytes <size>', 'with --upload: visitors may send this much in all (500M, 2G, ...)', sizeOption)
    .option('--name <name>', 'a title shown to visitors')
    .option('--json', 'print the link and its facts as JSON')
    .addHelpText(
      'after',
      `
The URL is shown once (the server keeps only a hash of it). Visitors need no account:
  download:  curl -OJ URL          (password: curl -u :PASSWORD -OJ URL)
  a folder:  curl -OJ 'URL?zip=1'  (all of it as one zip)
  upload:    curl -T FILE URL/     or open URL in a browser

--max-downloads counts every download, however it is cut: a request without Range is one
download; Range requests from the same address that continue a counted download (resume,
parallel segments) are free up to twice the file's size within 24 h, then count again.

Examples:
  $ ferry share /photos/2026 --expires 7d
  $ ferry share /reports/q3.pdf --password --max-downloads 3
  $ ferry share /inbox --upload --expires 48h --name "Send me your drafts"
  $ ferry share /inbox --upload --max-bytes 2G    (visitors may send 2 GiB in all)

A link to an end-to-end encrypted file carries the file's key after '#' (browsers never
send that part to the server): the page decrypts the file in the visitor's browser.
Whoever has the whole link can read that one file, nothing else of yours.
  $ ferry share --passphrase-file ~/.ferry-pass /vault/diary.txt --expires 1d`,
    );
  addE2eOptions(create);
  addConnectionOptions(create).action(async (arg: string, opts: ShareOpts) => {
    try {
      // A location as elsewhere: `work:/x` on the server saved as work, `s3:b/x` refused (exit 2), never a path named "/work:/x".
      const loc = await resolveServerLocation(arg, 'share links');
      const path = loc.path;
      await withServer(loc, opts, async (client) => {
        const e2e = opts.upload ? undefined : await (await import('../e2e-run.js')).shareEndToEnd(client, path, opts);
        const body: CreateShareRequest = { path: e2e?.serverPath ?? path, kind: opts.upload ? 'upload' : 'download' };
        if (opts.expires !== undefined) body.expiresInSeconds = opts.expires;
        if (opts.maxDownloads !== undefined) body.maxUses = opts.maxDownloads;
        if (opts.maxBytes !== undefined) {
          if (!opts.upload) throw new UsageError('--max-bytes is for upload links: add --upload');
          body.maxBytes = opts.maxBytes;
        }
        if (opts.name) body.name = opts.name;
        if (opts.passwordStdin) body.password = await stdinLine('password');
        else if (opts.password) body.password = await promptNewPassword('Link password: ');
        const { createShare } = await import('../../client/account.js');
        const madeAt = Date.now();
        const made = await createShare(client, body);
        const s = e2e ? { ...made, url: `${made.url}#${e2e.fragment}` } : made;
        if (opts.json) return printJson(s);
        process.stdout.write(terminalSafe(s.url) + '\n');
        const facts = [s.kind === 'upload' ? 'upload link' : 'download link', expiryFact(s.expiresAt, opts.expires, madeAt), s.maxUses ? countOf(s.maxUses, 'use') : '', s.maxBytes ? `at most ${formatSize(s.maxBytes)}` : '', s.hasPassword ? 'password' : ''].filter(Boolean);
        process.stderr.write(`${terminalSafe(s.id)}: ${facts.join(', ')}\n`);
      });
    } finally {
      closePrompts();
    }
  });

  const ls = share.command('ls').description('your links').option('--all', "everyone's (admin)").option('--json', 'JSON output');
  addLoginOptions(ls).action(async (opts: ShareOpts) => {
    await withClient(opts, async (client) => {
      const { listShares } = await import('../../client/account.js');
      const list = await listShares(client, { all: opts.all });
      if (opts.json) return printJson(list);
      if (list.length === 0) return void process.stderr.write(`no share links${opts.all ? '' : ' of yours'} (ferry share PATH makes one)\n`);
      const now = Date.now();
      process.stdout.write(
        table(
          ['ID', 'USER', 'KIND', 'PATH', 'USES', 'BYTES', 'EXPIRES', 'STATE', 'MADE WITH'],
          list.map((s) => [
            s.id,
            s.userName,
            s.kind,
            s.path,
            s.maxUses === null ? String(s.uses) : `${s.uses}/${s.maxUses}`,
            s.kind !== 'upload' ? '' : s.maxBytes === null || s.maxBytes === undefined ? formatSize(s.bytesReceived ?? 0) : `${formatSize(s.bytesReceived ?? 0)}/${formatSize(s.maxBytes)}`,
            when(s.expiresAt),
            s.revokedAt ? 'revoked' : s.expiresAt !== null && s.expiresAt <= now ? 'expired' : s.maxUses !== null && s.uses >= s.maxUses ? 'used up' : s.maxBytes != null && s.bytesReceived >= s.maxBytes ? 'full' : 'active',
            madeWithText(s.madeWith),
          ]),
        ),
      );
    });
  });

  const revoke = share.command('revoke').description('revoke a link: it answers 410 from now on').argument('<id>').option('--json', 'print {revoked: ID} as JSON').option('-q, --quiet', 'print nothing but errors');
  addLoginOptions(revoke).action(async (id: string, opts: ShareOpts) => {
    await withClient(opts, async (client) => {
      const { revokeShare } = await import('../../client/account.js');
      await revokeShare(client, id);
      if (opts.json) return printJson({ revoked: id });
      if (!opts.quiet) process.stderr.write(`revoked ${id}\n`);
    });
  });
}

/** The MADE WITH column: a token's id and name, "web session", "password"; "-": not recorded (older links or server). */
export function madeWithText(m: ShareInfo['madeWith'] | undefined): string {
  if (m === null || m === undefined) return '-';
  if (m.kind === 'token') return m.tokenName === null ? `${m.tokenId} (revoked or removed)` : `${m.tokenId} (${m.tokenName})`;
  return m.kind === 'session' ? 'web session' : 'password';
}
