/** API tokens for scripts and other machines: create (scopes, path, expiry), see once, revoke. */
import { useEffect, useState } from 'preact/hooks';
import type { FerryApi } from '../../../src/client/api.js';
import { createToken, listTokens, revokeToken } from '../../../src/client/account-api.js';
import type { CreatedToken, PermissionName, TokenInfo } from '../../../src/core/protocol.js';
import { formatDate } from '../format.js';
import { Breakable, Confirm, Dialog, fieldError, Listing, Message, nextInList, ShownOnce, useAction, useId } from './common.js';
import { escapeControls } from '../../../src/core/control-chars.js';

const SCOPES: PermissionName[] = ['list', 'read', 'write', 'delete', 'mkdir', 'share'];

/** The server's longest token life (src/server/routes/tokens.ts), in the form's days. */
const MAX_DAYS = 3650;

type TokenField = 'name' | 'scopes' | 'days';

/** A refusal the form finds itself, about one of its fields. */
class FieldProblem extends Error {
  constructor(
    readonly field: TokenField,
    message: string,
  ) {
    super(message);
  }
}

/** What the form can tell before asking the server: each problem about its field. */
function checkToken(name: string, scopes: Set<PermissionName>, days: string): void {
  if (name.trim() === '') throw new FieldProblem('name', 'Name cannot be only spaces.');
  if (scopes.size === 0) throw new FieldProblem('scopes', 'Pick at least one scope: a token without one can do nothing.');
  const n = Number(days);
  if (days !== '' && (!Number.isInteger(n) || n < 1 || n > MAX_DAYS)) throw new FieldProblem('days', `Expires after: a whole number of days from 1 to ${MAX_DAYS} (10 years), or empty for never.`);
}

/**
 * A token for a button's label and the confirmation: its name is not unique (two made for the
 * same script), so with when it was made and the start of its ID (`ferry token ls` shows it).
 */
function described(t: TokenInfo): string {
  return `${escapeControls(t.name)} (created ${formatDate(t.createdAt)}, ID ${t.id.slice(0, 8)})`;
}

export function TokensPage(props: { api: FerryApi }) {
  const [tokens, setTokens] = useState<TokenInfo[]>();
  const [error, setError] = useState<unknown>();
  const [creating, setCreating] = useState(false);
  // `row`: its place among the Revoke buttons, for the focus once it went.
  const [revoking, setRevoking] = useState<{ token: TokenInfo; row: number }>();
  const [reload, setReload] = useState(0);
  useEffect(() => {
    listTokens(props.api).then(setTokens, setError);
  }, [reload]);
  const live = tokens?.filter((t) => t.revokedAt === null);
  return (
    <main id="main">
      <h1>API tokens</h1>
      <p class="hint">
        Tokens let scripts and the command line act for you: <code>ferry login URL --token TOKEN</code>, or <code>Authorization: Bearer TOKEN</code>.
      </p>
      <button type="button" class="primary" onClick={() => setCreating(true)}>
        New token
      </button>
      <Message error={error} />
      <Listing kind="tokens" columns={['Name', 'Scopes', 'Path', 'Created', 'Expires', 'Last used']} rows={live} empty="You have no API tokens: New token makes one." failed={error}>
        {live?.map((t, row) => (
            <tr key={t.id}>
              <td class="long">
                <Breakable text={escapeControls(t.name)} />
                {/* A phone shows no Scopes and Path columns: what the token may do goes under its name. */}
                <span class="phone-only hint">
                  {t.scopes.join(', ')}
                  {t.pathPrefix !== null && (
                    <>
                      {' '}· only below <Breakable text={t.pathPrefix} />
                    </>
                  )}
                </span>
              </td>
              <td>{t.scopes.join(', ')}</td>
              <td class="long">{t.pathPrefix === null ? 'everything' : <Breakable text={t.pathPrefix} />}</td>
              <td>{formatDate(t.createdAt)}</td>
              <td>{t.expiresAt === null ? 'never' : formatDate(t.expiresAt)}</td>
              <td>{formatDate(t.lastUsedAt)}</td>
              <td>
                <button type="button" class="danger" onClick={() => setRevoking({ token: t, row })} aria-label={`Revoke token ${described(t)}`}>
                  Revoke
                </button>
              </td>
            </tr>
          ))}
      </Listing>
      {creating && <NewToken api={props.api} onClose={() => (setCreating(false), setReload((n) => n + 1))} />}
      {revoking && (
        <Confirm
          title="Revoke token"
          text={`Revoke ${described(revoking.token)}? Whatever uses it stops working at once, and so do the share links made with it.`}
          confirm="Revoke"
          danger
          onClose={() => setRevoking(undefined)}
          onConfirm={async () => {
            await revokeToken(props.api, revoking.token.id);
            // The list as it is now, before the dialog closes: focus goes to the next row's Revoke.
            setTokens(await listTokens(props.api));
          }}
          focusAfter={() => nextInList('tokens', 'button.danger', revoking.row)}
        />
      )}
    </main>
  );
}

function NewToken(props: { api: FerryApi; onClose: () => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Set<PermissionName>>(new Set(SCOPES));
  const [prefix, setPrefix] = useState('');
  const [days, setDays] = useState('90');
  const [created, setCreated] = useState<CreatedToken>();
  const [busy, error, run] = useAction();
  const ids = { name: useId('tn'), prefix: useId('tp'), days: useId('td'), error: useId('te') };
  // The form's own refusals are about one field; the server's (a path prefix outside one's own) about all of them.
  const about = (field: TokenField | 'prefix') => fieldError(error instanceof FieldProblem && error.field !== field ? undefined : error, ids.error);
  if (created) {
    return (
      <Dialog title="Token created" onClose={props.onClose}>
        <p>Copy it now: it is not shown again.</p>
        <ShownOnce label="Token" value={created.token} copyLabel="Copy token" onDone={props.onClose} />
      </Dialog>
    );
  }
  return (
    <Dialog title="New token" onClose={props.onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            checkToken(name, scopes, days);
            setCreated(
              await createToken(props.api, {
                name: name.trim(),
                scopes: [...scopes],
                pathPrefix: prefix.trim() === '' ? undefined : prefix.trim(),
                expiresInSeconds: days === '' ? undefined : Number(days) * 86_400,
              }),
            );
          });
        }}
      >
        <label for={ids.name}>Name</label>
        <input id={ids.name} required value={name} {...about('name')} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} class="inline">
              <input
                type="checkbox"
                checked={scopes.has(s)}
                {...about('scopes')}
                onChange={() => {
                  const next = new Set(scopes);
                  if (next.has(s)) next.delete(s);
                  else next.add(s);
                  setScopes(next);
                }}
              />{' '}
              {s}
            </label>
          ))}
        </fieldset>
        <label for={ids.prefix}>Only below this path (optional)</label>
        <input id={ids.prefix} value={prefix} {...about('prefix')} placeholder="/photos" onInput={(e) => setPrefix((e.currentTarget as HTMLInputElement).value)} />
        <label for={ids.days}>Expires after (days; empty: never)</label>
        <input id={ids.days} type="number" min={1} value={days} {...about('days')} onInput={(e) => setDays((e.currentTarget as HTMLInputElement).value)} />
        <Message error={error} id={ids.error} />
        <div class="buttons">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Create token
          </button>
        </div>
      </form>
    </Dialog>
  );
}
