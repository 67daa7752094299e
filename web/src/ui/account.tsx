/** The person's account: who they are, what they use, changing their password, and their SSH keys. */
import { useEffect, useState } from 'preact/hooks';
import type { FerryApi } from '../../../src/client/api.js';
import { changePassword, me } from '../../../src/client/account-api.js';
import type { MeResponse } from '../../../src/core/protocol.js';
import { formatCount, formatSize } from '../format.js';
import { fieldError, Message, useAction } from './common.js';
import { SshKeys } from './ssh-keys.js';

export function AccountPage(props: { api: FerryApi; onPasswordChanged: () => void }) {
  const [account, setAccount] = useState<MeResponse>();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [busy, error, run] = useAction();
  useEffect(() => {
    me(props.api).then(setAccount, () => undefined);
  }, []);
  return (
    <main id="main">
      <h1>Account</h1>
      {account && (
        <dl class="facts">
          <dt>User</dt>
          <dd>{account.user}</dd>
          <dt>Role</dt>
          <dd>{account.role}</dd>
          <dt>Storage used</dt>
          <dd>
            {formatSize(account.usage.bytes)}
            {account.limits.quotaBytes !== null && ` of ${formatSize(account.limits.quotaBytes)}`} ·{' '}
            {account.limits.quotaFiles === null ? formatCount(account.usage.files, 'file') : `${account.usage.files.toLocaleString('en')} of ${formatCount(account.limits.quotaFiles, 'file')}`}
          </dd>
        </dl>
      )}
      <h2>Change password</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            // Held back here, in words a person reads (the server's are the API's: "newPassword must have…").
            if (next.length < 8) throw new Error('The new password is too short: use 8 characters or more.');
            if (next !== again) throw new Error('The two new passwords differ: type the same one in both fields.');
            await changePassword(props.api, current, next);
            props.onPasswordChanged();
          });
        }}
      >
        <label for="pw-current">Current password</label>
        <input id="pw-current" type="password" autoComplete="current-password" required value={current} {...fieldError(error, 'pw-error')} onInput={(e) => setCurrent((e.currentTarget as HTMLInputElement).value)} />
        <label for="pw-new">New password</label>
        {/* The server's rule (src/server/passwords.ts), said before it refuses a password. */}
        <input id="pw-new" type="password" autoComplete="new-password" required value={next} {...fieldError(error, 'pw-error')} aria-describedby={error === undefined ? 'pw-rule' : 'pw-rule pw-error'} onInput={(e) => setNext((e.currentTarget as HTMLInputElement).value)} />
        <p id="pw-rule" class="hint">
          8 characters or more.
        </p>
        <label for="pw-again">New password again</label>
        <input id="pw-again" type="password" autoComplete="new-password" required value={again} {...fieldError(error, 'pw-error')} onInput={(e) => setAgain((e.currentTarget as HTMLInputElement).value)} />
        <Message error={error} id="pw-error" />
        <button type="submit" class="primary" disabled={busy}>
          Change password
        </button>
      </form>
      {account && <SshKeys api={props.api} user={account.user} />}
    </main>
  );
}
