/**
 * `ferry user add|ls|show|set|rm|passwd|grant|key`: user administration (admin token needed,
 * except `passwd` without a name, which changes your own password, and `key` on your own
 * name, which manages your own SSH keys).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { AuthInvalidError, NotFoundError, UsageError, isFerryError } from '../../core/errors.js';
import { parsePermissions } from '../../core/permissions.js';
import type { CreateUserRequest, UpdateUserRequest, UserInfo } from '../../core/protocol.js';
import { countOf, formatSize, parseSize } from '../../core/units.js';
import { addLoginOptions, withClient, printJson, type ConnectionOpts } from '../options.js';
import { closePrompts, promptNewPassword, promptSecret, stdinLine } from '../prompt.js';
import { table, when } from '../table.js';
import { terminalSafe } from '../terminal-text.js';

interface UserOpts extends ConnectionOpts {
  json?: boolean;
  admin?: boolean;
  home?: string;
  password?: boolean;
  passwordStdin?: boolean;
  quota?: string;
  quotaFiles?: string;
  maxFileSize?: string;
  maxSessions?: string;
  grant?: string[];
  ipAllow?: string[];
  ipDeny?: string[];
  disable?: boolean;
  enable?: boolean;
  role?: string;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];
const collectGrant = (v: string, prev: string[] = []): string[] => [...prev, v];

/** `none`/`unlimited` -> null (lift the limit), a size or count otherwise, undefined if absent. */
function limit(text: string | undefined, parse: (t: string) => number): number | null | undefined {
  if (text === undefined) return undefined;
  if (/^(none|unlimited|off)$/i.test(text)) return null;
  return parse(text);
}

const count = (t: string): number => {
  const n = Number(t);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`not a count: ${t}`);
  return n;
};

/** A size flag's parser whose error names the flag (`--quota: not a size: "5X" …`). */
function sizeOf(flag: string): (t: string) => number {
  return (t) => {
    try {
      return parseSize(t);
    } catch (err) {
      throw new UsageError(`${flag}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}

/** `PATH=PERMS` (or `PATH:PERMS`) -> a grant. */
function parseGrant(text: string): { path: string; permissions: ReturnType<typeof parsePermissions> } {
  const m = /^(.*?)[=:]([a-z*,]*)$/i.exec(text);
  if (!m || !m[1]) throw new UsageError(`--grant wants PATH=PERMS (e.g. /=list,read or /inbox=write), not ${JSON.stringify(text)}`);
  return { path: m[1], permissions: /^none$/i.test(m[2]) ? [] : parsePermissions(m[2]) };
}

function limitsFrom(opts: UserOpts): Partial<CreateUserRequest> {
  const out: Partial<CreateUserRequest> = {};
  const q = limit(opts.quota, sizeOf('--quota'));
  if (q !== undefined) out.quotaBytes = q;
  const qf = limit(opts.quotaFiles, count);
  if (qf !== undefined) out.quotaFiles = qf;
  const mf = limit(opts.maxFileSize, sizeOf('--max-file-size'));
  if (mf !== undefined) out.maxFileSize = mf;
  const ms = limit(opts.maxSessions, count);
  if (ms !== undefined) out.maxSessions = ms;
  if (opts.ipAllow) out.ipAllow = opts.ipAllow;
  if (opts.ipDeny) out.ipDeny = opts.ipDeny;
  return out;
}

async function newPassword(opts: UserOpts): Promise<string | undefined> {
  if (opts.passwordStdin) return stdinLine('password');
  if (opts.password) return promptNewPassword();
  return undefined;
}

function describe(u: UserInfo & { usage?: { bytes: number; files: number } }): string {
  const lim = (v: number | null, f: (n: number) => string) => (v === null ? 'none' : f(v));
  return [
    `user:        ${u.name} (${u.role}${u.disabled ? ', disabled' : ''})`,
    `home:        ${u.home}`,
    `password:    ${u.hasPassword ? 'set' : 'none'}`,
    `grants:      ${u.grants.map((g) => `${g.path}=${g.permissions.join(',') || 'none'}`).join('  ') || '(none)'}`,
    `quota:       ${u.quotaBytes === null ? 'no byte limit' : formatSize(u.quotaBytes)}, ${u.quotaFiles === null ? 'no file limit' : countOf(u.quotaFiles, 'file')}`,
    ...(u.usage ? [`usage:       ${formatSize(u.usage.bytes)} in ${countOf(u.usage.files, 'file')}`] : []),
    `max file:    ${lim(u.maxFileSize, formatSize)}; upload sessions: ${lim(u.maxSessions, String)}`,
    `addresses:   allow ${u.ipAllow.join(',') || 'any'}; deny ${u.ipDeny.join(',') || 'none'}`,
    `created:     ${when(u.createdAt)}`,
  ].join('\n') + '\n';
}

/**
 * The text of FILE, or of stdin for `-` (an authorized_keys file is small: at most 1 MiB).
 * A private key is refused here, before anything is sent: `ferry user key add me
 * ~/.ssh/id_ed25519` without `.pub` is an easy slip, and the server must never see one.
 */
async function readKeys(file: string): Promise<string> {
  const text = file === '-' ? await readStdinKeys() : await readKeyFile(file);
  const { PRIVATE_KEY } = await import('../../client/account-api.js');
  if (PRIVATE_KEY.test(text)) {
    throw new UsageError(`${file === '-' ? 'stdin holds' : `${file} is`} a private key, which stays on this machine (nothing was sent): give the public one${file === '-' ? '' : `, ${file}.pub`}`);
  }
  return text;
}

const MAX_KEYS_TEXT = 1024 * 1024;

async function readKeyFile(file: string): Promise<string> {
  const { readFile, stat } = await import('node:fs/promises');
  const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new NotFoundError(`${file}: no such file (a public key file, such as ~/.ssh/id_ed25519.pub; ssh-keygen -t ed25519 makes one)`);
    throw new UsageError(`cannot read ${file}: ${err.message}`);
  });
  if (!info.isFile()) throw new UsageError(`${file} is not a file: give a public key file, such as ~/.ssh/id_ed25519.pub`);
  if (info.size > MAX_KEYS_TEXT) throw new UsageError(`${file} is larger than 1 MiB: not a public key file`);
  return readFile(file, 'utf8').catch((err: Error) => {
    throw new UsageError(`cannot read ${file}: ${err.message}`);
  });
}

async function readStdinKeys(): Promise<string> {
  let text = '';
  for await (const piece of process.stdin) {
    text += String(piece);
    if (text.length > MAX_KEYS_TEXT) throw new UsageError('stdin holds more than 1 MiB: not a public key file');
  }
  return text;
}

function registerUserKey(user: Command): void {
  const key = user
    .command('key')
    .description('SSH public keys a user logs in to the SFTP front with: add, ls, rm (admin, or your own with a full token)');

  const add = key
    .command('add')
    .description('add the keys of FILE (authorized_keys lines: ed25519, ecdsa, rsa of 2048 bits or more; comments kept), or of stdin with -')
    .argument('<name>', 'the user')
    .argument('<file>', 'a public key file (~/.ssh/id_ed25519.pub) or an authorized_keys file; - for stdin')
    .option('--json', 'print the keys added as JSON')
    .addHelpText(
      'after',
      `
A key logs in with all of the user's permissions, so a user adding their own keys needs a
token with all of them and no path prefix (what \`ferry login\` gives). A key added with a
token that expires (\`ferry login\`'s: 90 days unless --expires) expires with it: add it
again after the next login. A key added with a token that never expires does not expire.
Lines with options
(from=, command=) are refused rather than stored without them; a key the user already has
is refused. Blank lines and # comments are skipped.

Examples:
  $ ferry user key add ana ~/.ssh/id_ed25519.pub
  $ ssh-add -L | ferry user key add ana -
  $ sftp -P 2022 ana@files.example.com`,
    );
  addLoginOptions(add).action(async (name: string, file: string, opts: UserOpts) => {
    const text = await readKeys(file);
    await withClient(opts, async (client) => {
      const { addSshKeys } = await import('../../client/account.js');
      const added = await addSshKeys(client, name, text);
      if (opts.json) return printJson(added);
      for (const k of added) process.stderr.write(`added ${terminalSafe(k.type)} ${terminalSafe(k.fingerprint)}${k.comment ? ` (${terminalSafe(k.comment)})` : ''} as ${terminalSafe(k.id)}${k.expiresAt === null ? '' : `, expiring ${when(k.expiresAt)} with this token`}\n`);
    });
  });

  const ls = key.command('ls').description("a user's SSH keys").argument('<name>', 'the user').option('--json', 'JSON output').addHelpText('after', '\nExample:\n  $ ferry user key ls ana');
  addLoginOptions(ls).action(async (name: string, opts: UserOpts) => {
    await withClient(opts, async (client) => {
      const { listSshKeys } = await import('../../client/account.js');
      const keys = await listSshKeys(client, name);
      if (opts.json) return printJson(keys);
      if (keys.length === 0) return void process.stderr.write(`${name} has no SSH keys (ferry user key add ${name} ~/.ssh/id_ed25519.pub adds one)\n`);
      process.stdout.write(
        table(
          ['ID', 'TYPE', 'BITS', 'FINGERPRINT', 'COMMENT', 'ADDED', 'LAST USED', 'EXPIRES'],
          keys.map((k) => [k.id, k.type, String(k.bits), k.fingerprint, k.comment, when(k.createdAt), when(k.lastUsedAt), when(k.expiresAt)]),
        ),
      );
    });
  });

  const rm = key
    .command('rm')
    .description('remove a key (by the ID ferry user key ls shows, or its SHA256: fingerprint); its SFTP logins end at their next request')
    .argument('<name>', 'the user')
    .argument('<id>', 'key id or fingerprint')
    .option('--json', 'print {user: NAME, removed: ID} as JSON')
    .addHelpText('after', '\nExamples:\n  $ ferry user key rm ana 3f2a9c0d1e4b5a6f\n  $ ferry user key rm ana SHA256:OwOPKm4t55WQaKVWLDxbfnMgHZ/vao68mDgXE03pk+c');
  addLoginOptions(rm).action(async (name: string, id: string, opts: UserOpts) => {
    await withClient(opts, async (client) => {
      const { removeSshKey } = await import('../../client/account.js');
      await removeSshKey(client, name, id);
      if (opts.json) return printJson({ user: name, removed: id });
      process.stderr.write(`removed key ${id} of ${name}\n`);
    });
  });
}

export function registerUser(program: Command): void {
  const user = program.command('user').description('manage users (admin): add, ls, show, set, rm, passwd, grant, key');
  userAdd(user);
  userLs(user);
  userShow(user);
  userSet(user);
  userRm(user);
  userPasswd(user);
  userGrant(user);
  registerUserKey(user);
}

function userAdd(user: Command): void {
  const add = user
    .command('add')
    .description('create a user (home /users/NAME, full rights there, unless told otherwise)')
    .argument('<name>')
    .option('--admin', 'the admin role (user administration, everyone\'s tokens and links, audit log)')
    .option('--home <path>', 'the user\'s root on the server (default /users/NAME)')
    .option('--password', 'set a password (asked for twice)')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--quota <size>', 'logical bytes the user\'s files may take (10G or 10GiB: 10 × 2^30; 10GB: 10 × 10^9)')
    .option('--quota-files <n>', 'most files')
    .option('--max-file-size <size>', 'largest single file')
    .option('--max-sessions <n>', 'most upload sessions at once')
    .option('--grant <path=perms>', 'a per-path grant, repeatable (default /=list,read,write,delete,mkdir,share)', collectGrant)
    .option('--ip-allow <cidr>', 'only from these networks (repeatable, comma-separated)', collect)
    .option('--ip-deny <cidr>', 'never from these networks', collect)
    .option('--json', 'print the user as JSON')
    .addHelpText(
      'after',
      `
Permissions: list, read, write, delete, mkdir, share (admin comes with --admin). A grant on a
path replaces its parent's for everything below it.

Examples:
  $ ferry user add ana --password --quota 50G
  $ ferry user add scanner --grant /=list --grant /inbox=write --ip-allow 192.168.1.0/24
  $ echo "$PW" | ferry user add bot --password-stdin --home /shared/bot`,
    );
  addLoginOptions(add).action(async (name: string, opts: UserOpts) => {
    try {
      await withClient(opts, async (client) => {
        const body: CreateUserRequest = { name, role: opts.admin ? 'admin' : 'user', ...limitsFrom(opts) };
        if (opts.home) body.home = opts.home;
        if (opts.grant) body.grants = opts.grant.map(parseGrant);
        const password = await newPassword(opts);
        if (password !== undefined) body.password = password;
        const { addUser } = await import('../../client/account.js');
        const u = await addUser(client, body);
        if (opts.json) printJson(u);
        else process.stderr.write(`added ${terminalSafe(u.name)} (home ${terminalSafe(u.home)})\n`);
      });
    } finally {
      closePrompts();
    }
  });
}

function userLs(user: Command): void {
  const ls = user.command('ls').description('list users').option('--json', 'JSON output');
  addLoginOptions(ls).action(async (opts: UserOpts) => {
    await withClient(opts, async (client) => {
      const { listUsers } = await import('../../client/account.js');
      const users = await listUsers(client);
      if (opts.json) return printJson(users);
      process.stdout.write(
        table(
          ['NAME', 'ROLE', 'HOME', 'QUOTA', 'STATE', 'CREATED'],
          users.map((u) => [u.name, u.role, u.home, u.quotaBytes === null ? '-' : formatSize(u.quotaBytes), u.disabled ? 'disabled' : 'active', when(u.createdAt)]),
        ),
      );
    });
  });
}

function userShow(user: Command): void {
  const show = user.command('show').description('one user, with grants, limits and usage').argument('<name>').option('--json', 'JSON output');
  addLoginOptions(show).action(async (name: string, opts: UserOpts) => {
    await withClient(opts, async (client) => {
      const { getUser } = await import('../../client/account.js');
      const u = await getUser(client, name);
      if (opts.json) printJson(u);
      else process.stdout.write(describe(u));
    });
  });
}

function userSet(user: Command): void {
  const set = user
    .command('set')
    .description('change a user: limits (none lifts one), role, home, addresses, disable/enable')
    .argument('<name>')
    .option('--role <role>', 'admin or user')
    .option('--home <path>', 'a new root')
    .option('--quota <size|none>', 'logical bytes')
    .option('--quota-files <n|none>', 'most files')
    .option('--max-file-size <size|none>', 'largest single file')
    .option('--max-sessions <n|none>', 'most upload sessions at once')
    .option('--ip-allow <cidr>', 'replace the allow list (repeatable; "" clears it)', collect)
    .option('--ip-deny <cidr>', 'replace the deny list', collect)
    .option('--disable', 'refuse the user (tokens stop at once)')
    .option('--enable', 'accept the user again')
    .option('--json', 'print the user as JSON');
  addLoginOptions(set).action(async (name: string, opts: UserOpts) => {
    if (opts.disable && opts.enable) throw new UsageError('--disable or --enable, not both');
    await withClient(opts, async (client) => {
      const body: UpdateUserRequest = limitsFrom(opts);
      if (opts.role !== undefined) {
        if (opts.role !== 'admin' && opts.role !== 'user') throw new UsageError('--role is admin or user');
        body.role = opts.role;
      }
      if (opts.home) body.home = opts.home;
      if (opts.disable) body.disabled = true;
      if (opts.enable) body.disabled = false;
      if (Object.keys(body).length === 0) throw new UsageError('nothing to change: see ferry user set --help');
      const { updateUser } = await import('../../client/account.js');
      const u = await updateUser(client, name, body);
      if (opts.json) printJson(u);
      else process.stdout.write(describe(u));
    });
  });
}

function userRm(user: Command): void {
  const rm = user
    .command('rm')
    .description('delete a user: their tokens, sessions, links and SSH keys go; their files stay, and their trash and old versions stay the admin\'s (a later user of the name does not see them)')
    .argument('<name>')
    .option('--json', 'print {removed: NAME} as JSON');
  addLoginOptions(rm).action(async (name: string, opts: UserOpts) => {
    await withClient(opts, async (client) => {
      const { removeUser } = await import('../../client/account.js');
      await removeUser(client, name);
      if (opts.json) return printJson({ removed: name });
      process.stderr.write(`removed ${name}\n`);
    });
  });
}

function userPasswd(user: Command): void {
  const passwd = user
    .command('passwd')
    .description("set a user's password (admin), or without a name change your own")
    .argument('[name]')
    .option('--password-stdin', 'read from stdin: the new password (admin), or the current then the new one (your own)');
  addLoginOptions(passwd).action(async (name: string | undefined, opts: UserOpts) => {
    try {
      await withClient(opts, async (client) => {
        const account = await import('../../client/account.js');
        if (name !== undefined) {
          const pw = opts.passwordStdin ? await stdinLine('password') : await promptNewPassword(`New password for ${name}: `);
          await account.setUserPassword(client, name, pw);
          process.stderr.write(`password of ${name} changed; their web sessions and the tokens \`ferry login\` made are ended (named API tokens stay)\n`);
        } else {
          const mine = await account.me(client);
          const current = opts.passwordStdin ? await stdinLine('current password') : await promptSecret(`Current password for ${mine.user} (empty if none): `);
          const next = opts.passwordStdin ? await stdinLine('new password') : await promptNewPassword();
          await account.changePassword(client, current === '' ? undefined : current, next).catch((err: unknown) => {
            // The token passed a moment ago (me): what the server refused is the current password.
            if (!isFerryError(err, 'FERRY_ERR_AUTH_INVALID')) throw err;
            throw new AuthInvalidError('the current password is not right; nothing was changed', { cause: err, details: { ...err.details, password: true } });
          });
          process.stderr.write('password changed; your web sessions and the tokens `ferry login` made elsewhere are ended (this one and named API tokens stay: ferry token ls)\n');
        }
      });
    } finally {
      closePrompts();
    }
  });
}

function userGrant(user: Command): void {
  const grant = user
    .command('grant')
    .description('set what a user may do at a path (relative to their home); "none" removes the grant')
    .argument('<name>')
    .argument('<path>')
    .argument('<permissions>', 'comma-separated: list,read,write,delete,mkdir,share, or "none"')
    .option('--json', 'print the user as JSON')
    .addHelpText('after', '\nExamples:\n  $ ferry user grant ana /archive list,read\n  $ ferry user grant ana /archive none');

  addLoginOptions(grant).action(async (name: string, path: string, permissions: string, opts: UserOpts) => {
    await withClient(opts, async (client) => {
      const { setGrant } = await import('../../client/account.js');
      const u = await setGrant(client, name, { path, permissions: /^none$/i.test(permissions) ? [] : parsePermissions(permissions) });
      if (opts.json) printJson(u);
      else process.stdout.write(describe(u));
    });
  });
}
