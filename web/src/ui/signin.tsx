/** The sign-in page: user and password; the API's answer is shown as it is. */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Session } from '../session.js';
import { fieldError, Message, useAction } from './common.js';
import { Logo } from './icons.js';

export function SignIn(props: { session: Session }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [busy, error, run] = useAction();
  const passwordField = useRef<HTMLInputElement>(null);
  // A refused sign-in: the focus on the password, selected, to be typed again (it was on the
  // Sign in button, or nowhere, for someone who clicked or tabbed to it).
  useEffect(() => {
    if (error === undefined || error === null) return;
    passwordField.current?.focus();
    passwordField.current?.select();
  }, [error]);
  return (
    <main id="main" class="signin">
      <h1>
        <Logo /> Ferry
      </h1>
      {props.session.notice !== undefined && !error && <p role="status">{props.session.notice}</p>}
      <form
        aria-label="Sign in"
        onSubmit={(e) => {
          e.preventDefault();
          void run(() => props.session.signIn(user.trim(), password));
        }}
      >
        <label for="user">User name</label>
        <input id="user" name="username" autoComplete="username" required autoFocus value={user} {...fieldError(error, 'signin-error')} onInput={(e) => setUser((e.currentTarget as HTMLInputElement).value)} />
        <label for="password">Password</label>
        <input id="password" ref={passwordField} name="password" type="password" autoComplete="current-password" required value={password} {...fieldError(error, 'signin-error')} onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
        <Message error={error} id="signin-error" />
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
      {/* A first visitor has no account, and the admin token printed at the server's first start is no password. */}
      <p class="hint">
        No account yet? The server's admin makes one (on the server's machine: <code>ferry user add NAME --password</code>, with the admin token the server printed at its first start). The admin token is not a password.
      </p>
    </main>
  );
}
