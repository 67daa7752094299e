/** Administration: users (create, disable, quota, grants), the audit log, the defender's bans, server stats. */
import { useEffect, useState } from 'preact/hooks';
import type { FerryApi } from '../../../src/client/api.js';
import { addUser, auditLog, bans, getUser, listUsers, me, setGrant, stats, unban, updateUser, type ServerStats } from '../../../src/client/account-api.js';
import { forEachConcurrent } from '../../../src/client/concurrency.js';
import type { AuditEntry, PermissionName, Usage, UserInfo } from '../../../src/core/protocol.js';
import { parseSize } from '../../../src/core/units.js';
import { formatCount, formatDate, formatSize } from '../format.js';
import { linkClick } from '../router.js';
import { Breakable, DateTime, Dialog, TargetText, fieldError, Listing, Message, useAction, useId } from './common.js';
import { trimTrailingSlashes } from '../../../src/core/path.js';
import { escapeControls } from '../../../src/core/control-chars.js';

const PERMS: PermissionName[] = ['list', 'read', 'write', 'delete', 'mkdir', 'share'];

export function AdminNav(props: { current: string }) {
  const links: Array<[string, string]> = [
    ['/admin/users', 'Users'],
    ['/admin/audit', 'Audit log'],
    ['/admin/bans', 'Bans'],
    ['/admin/stats', 'Server'],
  ];
  return (
    <nav aria-label="Administration" class="subnav">
      {links.map(([to, label]) => (
        <a key={to} href={to} onClick={(e) => linkClick(e, to)} aria-current={props.current === to ? 'page' : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
}

export function AdminPage(props: { api: FerryApi; path: string }) {
  const page = trimTrailingSlashes(props.path);
  return (
    <main id="main">
      <h1>Administration</h1>
      <AdminNav current={page === '/admin' ? '/admin/users' : page} />
      {(page === '/admin' || page === '/admin/users') && <Users api={props.api} />}
      {page === '/admin/audit' && <Audit api={props.api} />}
      {page === '/admin/bans' && <Bans api={props.api} />}
      {page === '/admin/stats' && <Stats api={props.api} />}
    </main>
  );
}

/** A quota typed in: empty is none; otherwise the CLI's sizes (10G = 10GiB = 10 × 2^30 bytes, 10GB = 10 × 10^9). */
function parseSizeInput(text: string): number | null {
  return text.trim() === '' ? null : parseSize(text);
}

/** What a size field's text is read as, shown under it: which unit a "10 GB" is, before it is saved. */
function SizeReading(props: { id: string; text: string }) {
  let reading = '';
  try {
    const n = parseSizeInput(props.text);
    if (n !== null) reading = `${formatSize(n)} (${n.toLocaleString('en')} bytes)`;
  } catch {
    reading = 'not a size (examples: 500M, 10GiB, 10GB)';
  }
  return (
    <span class="hint" id={props.id} aria-live="polite">
      {reading}
    </span>
  );
}

/** Users whose usage is asked at once (one request each: the list of users carries none). */
const USAGE_AT_ONCE = 4;
/** How often the Users page asks each user's usage again while it is shown. */
const USAGE_REFRESH_MS = 10_000;

/** What a user stores against their quota: "1.2 GiB in 3,400 files", and the share of the byte quota. */
function usageText(usage: Usage | undefined, quotaBytes: number | null): string {
  if (!usage) return '…';
  const text = `${formatSize(usage.bytes)} in ${formatCount(usage.files, 'file')}`;
  return quotaBytes ? `${text} (${Math.floor((usage.bytes / quotaBytes) * 100)}% of quota)` : text;
}

function Users(props: { api: FerryApi }) {
  const { api } = props;
  const [users, setUsers] = useState<UserInfo[]>();
  const [error, setError] = useState<unknown>();
  const [reload, setReload] = useState(0);
  const [editing, setEditing] = useState<{ user: UserInfo; what: 'quota' | 'grants' }>();
  const [busy, actionError, run] = useAction();
  // The form's own: its refusal is shown in it, by its fields (it showed above the table, out of sight).
  const [adding, addError, runAdd] = useAction();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [admin, setAdmin] = useState(false);
  const [quota, setQuota] = useState('');
  const ids = { name: useId('un'), pw: useId('up'), quota: useId('uq'), quotaReading: useId('ur'), error: useId('ue') };
  const [self, setSelf] = useState<string>();
  // What each user stores, asked once the users are listed (and again after each change).
  const [usage, setUsage] = useState<Map<string, Usage>>(new Map());
  useEffect(() => {
    let stop = false;
    listUsers(api).then((list) => !stop && setUsers(list), setError);
    return () => void (stop = true);
  }, [reload]);
  // Usage changes without this page (users upload and delete): asked again every
  // USAGE_REFRESH_MS while the page is shown, and when it is shown again. The old figures
  // stay until the new ones come.
  const [usageTick, setUsageTick] = useState(0);
  useEffect(() => {
    const again = () => document.visibilityState === 'visible' && setUsageTick((n) => n + 1);
    const timer = setInterval(again, USAGE_REFRESH_MS);
    document.addEventListener('visibilitychange', again);
    addEventListener('focus', again);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', again);
      removeEventListener('focus', again);
    };
  }, []);
  useEffect(() => {
    if (!users) return;
    let stop = false;
    void forEachConcurrent(users, USAGE_AT_ONCE, async (u) => {
      if (stop) return;
      const { usage: used } = await getUser(api, u.name);
      if (!stop) setUsage((m) => new Map(m).set(u.name, used));
    }).catch(() => undefined);
    return () => void (stop = true);
  }, [users, usageTick]);
  useEffect(() => {
    me(api).then((m) => setSelf(m.user), () => undefined);
  }, []);
  const refresh = () => setReload((n) => n + 1);
  return (
    <section aria-labelledby="users-h">
      <h2 id="users-h">Users</h2>
      <Message error={error ?? actionError} />
      <Listing kind="users" columns={['Name', 'Role', 'Home', 'Quota', 'Used', 'Status']}>
        {users?.map((u) => (
          <tr key={u.id}>
            <td>
              {u.name}
              {u.name === self && ' (you)'}
              {/* A phone shows no Role and Home columns: an admin's usage of "/" (everyone's files) read as a copy of the others'. */}
              <span class="phone-only hint">
                {u.role} · home <Breakable text={u.home} />
                {u.home === '/' && " (everyone's files)"}
              </span>
            </td>
            <td>{u.role}</td>
            <td class="long">{u.home}</td>
            <td>{u.quotaBytes === null ? 'none' : formatSize(u.quotaBytes)}</td>
            <td>{usageText(usage.get(u.name), u.quotaBytes)}</td>
            <td>{u.disabled ? 'disabled' : 'active'}</td>
            <td class="actions">
              {/* The server refuses to disable the signed-in admin (it would lock them out): not offered. Until /me answers, no row offers it. */}
              {self !== undefined && u.name !== self && (
                <button type="button" disabled={busy} onClick={() => run(async () => (await updateUser(api, u.name, { disabled: !u.disabled }), refresh()))} aria-label={`${u.disabled ? 'Enable' : 'Disable'} ${u.name}`}>
                  {u.disabled ? 'Enable' : 'Disable'}
                </button>
              )}
              <button type="button" onClick={() => setEditing({ user: u, what: 'quota' })} aria-label={`Quota of ${u.name}`}>
                Quota
              </button>
              <button type="button" onClick={() => setEditing({ user: u, what: 'grants' })} aria-label={`Grants of ${u.name}`}>
                Grants
              </button>
            </td>
          </tr>
        ))}
      </Listing>
      <h3>Add a user</h3>
      <form
        class="grid"
        onSubmit={(e) => {
          e.preventDefault();
          void runAdd(async () => {
            await addUser(api, { name: name.trim(), password: password === '' ? undefined : password, role: admin ? 'admin' : 'user', quotaBytes: parseSizeInput(quota) });
            setName('');
            setPassword('');
            setQuota('');
            setAdmin(false);
            refresh();
          });
        }}
      >
        <label for={ids.name}>Name</label>
        <input id={ids.name} required value={name} {...fieldError(addError, ids.error)} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
        <label for={ids.pw}>Password (8 characters or more; empty: none, tokens only)</label>
        <input id={ids.pw} type="password" autoComplete="new-password" minLength={8} value={password} {...fieldError(addError, ids.error)} onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
        <label for={ids.quota}>Quota (e.g. 10GiB or 10GB; empty: none)</label>
        <input id={ids.quota} value={quota} aria-describedby={addError === undefined ? ids.quotaReading : `${ids.quotaReading} ${ids.error}`} {...(addError === undefined ? {} : { 'aria-invalid': true })} onInput={(e) => setQuota((e.currentTarget as HTMLInputElement).value)} />
        <SizeReading id={ids.quotaReading} text={quota} />
        <label class="inline">
          <input type="checkbox" checked={admin} onChange={() => setAdmin(!admin)} /> Administrator
        </label>
        <Message error={addError} id={ids.error} />
        <button type="submit" class="primary" disabled={adding}>
          Add user
        </button>
      </form>
      {editing?.what === 'quota' && <QuotaDialog api={api} user={editing.user} onClose={() => (setEditing(undefined), refresh())} />}
      {editing?.what === 'grants' && <GrantsDialog api={api} user={editing.user} onClose={() => (setEditing(undefined), refresh())} />}
    </section>
  );
}

function QuotaDialog(props: { api: FerryApi; user: UserInfo; onClose: () => void }) {
  const { user } = props;
  const [bytes, setBytes] = useState(user.quotaBytes === null ? '' : String(user.quotaBytes));
  const [files, setFiles] = useState(user.quotaFiles === null ? '' : String(user.quotaFiles));
  const [busy, error, run] = useAction();
  const ids = { b: useId('qb'), f: useId('qf'), reading: useId('qr') };
  return (
    <Dialog title={`Quota of ${user.name}`} onClose={props.onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            await updateUser(props.api, user.name, { quotaBytes: parseSizeInput(bytes), quotaFiles: files.trim() === '' ? null : Number(files) });
            props.onClose();
          });
        }}
      >
        <label for={ids.b}>Bytes (e.g. 500M, 10GiB or 10GB; empty: no limit)</label>
        <input id={ids.b} value={bytes} aria-describedby={ids.reading} onInput={(e) => setBytes((e.currentTarget as HTMLInputElement).value)} />
        <SizeReading id={ids.reading} text={bytes} />
        <label for={ids.f}>Files (empty: no limit)</label>
        <input id={ids.f} type="number" min={0} value={files} onInput={(e) => setFiles((e.currentTarget as HTMLInputElement).value)} />
        <Message error={error} />
        <div class="buttons">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function GrantsDialog(props: { api: FerryApi; user: UserInfo; onClose: () => void }) {
  const { user } = props;
  const [path, setPath] = useState('/');
  const [perms, setPerms] = useState<Set<PermissionName>>(new Set(user.grants.find((g) => g.path === '/')?.permissions ?? []));
  const [grants, setGrants] = useState(user.grants);
  const [busy, error, run] = useAction();
  const id = useId('gp');
  return (
    <Dialog title={`Grants of ${user.name}`} onClose={props.onClose}>
      <ul class="grants">
        {grants.map((g) => (
          <li key={g.path}>
            <code>{g.path}</code>: {g.permissions.join(', ') || 'nothing'}
          </li>
        ))}
      </ul>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            const u = await setGrant(props.api, user.name, { path: path.trim() || '/', permissions: [...perms] });
            setGrants(u.grants);
          });
        }}
      >
        <label for={id}>Path (relative to the home)</label>
        <input
          id={id}
          value={path}
          onInput={(e) => {
            const p = (e.currentTarget as HTMLInputElement).value;
            setPath(p);
            setPerms(new Set(grants.find((g) => g.path === p)?.permissions ?? []));
          }}
        />
        <fieldset>
          <legend>Permissions there (none: remove the grant)</legend>
          {PERMS.map((p) => (
            <label key={p} class="inline">
              <input
                type="checkbox"
                checked={perms.has(p)}
                onChange={() => {
                  const next = new Set(perms);
                  if (next.has(p)) next.delete(p);
                  else next.add(p);
                  setPerms(next);
                }}
              />{' '}
              {p}
            </label>
          ))}
        </fieldset>
        <Message error={error} />
        <div class="buttons">
          <button type="button" onClick={props.onClose}>
            Close
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Set grant
          </button>
        </div>
      </form>
    </Dialog>
  );
}

const SINCE: Array<[string, number | undefined]> = [
  ['any time', undefined],
  ['last hour', 3600_000],
  ['last 24 hours', 86_400_000],
  ['last 7 days', 7 * 86_400_000],
];

function Audit(props: { api: FerryApi }) {
  const [user, setUser] = useState('');
  const [event, setEvent] = useState('');
  const [since, setSince] = useState('last 24 hours');
  const [entries, setEntries] = useState<AuditEntry[]>();
  const [next, setNext] = useState<number>();
  const [busy, error, run] = useAction();
  const ids = { u: useId('au'), e: useId('ae'), s: useId('as') };
  const load = (before?: number) =>
    run(async () => {
      if (before === undefined) setEntries(undefined); // a new filter: Loading…, not the last one's rows
      const ms = SINCE.find(([l]) => l === since)?.[1];
      const page = await auditLog(props.api, { user: user.trim() || undefined, event: event.trim() || undefined, since: ms === undefined ? undefined : Date.now() - ms, before, limit: 100 });
      setEntries(before === undefined ? page.entries : [...(entries ?? []), ...page.entries]);
      setNext(page.next);
    });
  useEffect(() => void load(), []);
  return (
    <section aria-labelledby="audit-h">
      <h2 id="audit-h">Audit log</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <label for={ids.u}>User</label>
        <input id={ids.u} value={user} onInput={(e) => setUser((e.currentTarget as HTMLInputElement).value)} />
        <label for={ids.e}>Event (or prefix, e.g. auth.)</label>
        <input id={ids.e} value={event} onInput={(e) => setEvent((e.currentTarget as HTMLInputElement).value)} />
        <label for={ids.s}>When</label>
        <select id={ids.s} value={since} onChange={(e) => setSince((e.currentTarget as HTMLSelectElement).value)}>
          {SINCE.map(([l]) => (
            <option key={l}>{l}</option>
          ))}
        </select>
        <button type="submit" class="primary" disabled={busy}>
          Show
        </button>
      </form>
      <Message error={error} />
      <table class="listing audit">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">Result</th>
            <th scope="col">User</th>
            <th scope="col">Address</th>
            <th scope="col">Target</th>
          </tr>
        </thead>
        <tbody>
          {(entries === undefined ? (error ? undefined : 'Loading…') : entries.length === 0 ? 'No events.' : undefined) && (
            <tr>
              <td colSpan={6}>{entries === undefined ? 'Loading…' : 'No events.'}</td>
            </tr>
          )}
          {entries?.map((a) => (
            <tr key={a.id}>
              <td>
                <DateTime text={formatDate(a.at)} />
              </td>
              <td>
                {a.event}
                {/* On a phone the Target column gives way: its target goes under the event. */}
                {a.target !== null && (
                  <span class="phone-only hint">
                    <TargetText text={escapeControls(a.target)} />
                  </span>
                )}
              </td>
              <td>{a.ok ? 'ok' : 'refused'}</td>
              <td>{a.user === null ? '—' : escapeControls(a.user)}</td>
              <td>{a.ip ?? '—'}</td>
              <td class="target">{a.target === null ? '' : <TargetText text={escapeControls(a.target)} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {next !== undefined && (
        <button type="button" disabled={busy} onClick={() => load(next)}>
          Older events
        </button>
      )}
    </section>
  );
}

function Bans(props: { api: FerryApi }) {
  const [list, setList] = useState<Array<{ ip: string; until: number }>>();
  const [busy, error, run] = useAction();
  const [reload, setReload] = useState(0);
  useEffect(() => void run(async () => setList(await bans(props.api))), [reload]);
  return (
    <section aria-labelledby="bans-h">
      <h2 id="bans-h">Banned addresses</h2>
      <p class="hint">The defender bans addresses that keep failing to authenticate.</p>
      <Message error={error} />
      <Listing columns={['Address', 'Banned until']} rows={list} empty="No address is banned." failed={error}>
        {list?.map((b) => (
          <tr key={b.ip}>
            <td>{b.ip}</td>
            <td>{formatDate(b.until)}</td>
            <td>
              <button type="button" disabled={busy} onClick={() => run(async () => (await unban(props.api, b.ip), setReload((n) => n + 1)))} aria-label={`Lift the ban of ${b.ip}`}>
                Lift ban
              </button>
            </td>
          </tr>
        ))}
      </Listing>
    </section>
  );
}

function Stats(props: { api: FerryApi }) {
  const [s, setS] = useState<ServerStats>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    stats(props.api).then(setS, setError);
  }, []);
  return (
    <section aria-labelledby="stats-h">
      <h2 id="stats-h">Server</h2>
      <Message error={error} />
      {s && (
        <dl class="facts">
          <dt>Files</dt>
          <dd>{s.files.toLocaleString('en')}</dd>
          <dt>Logical size (all files)</dt>
          <dd>{formatSize(s.logicalBytes)}</dd>
          <dt>Stored (distinct chunks)</dt>
          <dd>
            {formatSize(s.storedBytes)} in {s.chunks.toLocaleString('en')} chunks
          </dd>
          <dt>Dedup ratio</dt>
          <dd>{s.storedBytes > 0 ? `${(s.logicalBytes / s.storedBytes).toFixed(2)} : 1` : '—'}</dd>
          <dt>Active uploads</dt>
          <dd>{s.uploads}</dd>
        </dl>
      )}
    </section>
  );
}
