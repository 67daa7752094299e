/** The signed-in app: header with navigation, and the page of the current path. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { filesPathOf, linkClick, navigate, usePath } from '../router.js';
import type { Session } from '../session.js';
import { UploadManager } from '../uploads.js';
import { Logo } from './icons.js';
import { FilesPage } from './files.js';
import { Confirm } from './common.js';
import { lazyPage } from './lazy.js';

const AccountPage = lazyPage(async () => (await import('./account.js')).AccountPage);
const AdminPage = lazyPage(async () => (await import('./admin.js')).AdminPage);
const SharesPage = lazyPage(async () => (await import('./shares.js')).SharesPage);
const TokensPage = lazyPage(async () => (await import('./tokens.js')).TokensPage);
const TrashPage = lazyPage(async () => (await import('./trash.js')).TrashPage);

export function App(props: { session: Session }) {
  const { session } = props;
  const path = usePath();
  const [version, setVersion] = useState(0);
  const user = session.user!;
  const uploads = useMemo(() => {
    const m = new UploadManager(session.api, `user:${user.name}`, { onDone: () => setVersion((n) => n + 1) });
    void m.restore();
    return m;
  }, [user.name]);
  // Signed out (here or in another tab): this user's uploads stop, and the page no longer
  // asks about them when it is left (the next user's does not hold them).
  useEffect(() => () => uploads.close(), [uploads]);
  const [signingOut, setSigningOut] = useState(false);
  const signOut = () => void session.signOut().catch(() => undefined);
  useEffect(() => {
    if (path === '/' || path === '') navigate('/files', { replace: true });
  }, [path]);

  const nav: Array<[string, string]> = [
    ['/files', 'Files'],
    ['/shares', 'Share links'],
    ['/trash', 'Trash'],
    ['/tokens', 'Tokens'],
    ['/account', 'Account'],
  ];
  if (user.role === 'admin') nav.push(['/admin/users', 'Admin']);
  const section = '/' + (path.split('/')[1] ?? '');
  const title = nav.find(([to]) => section === '/' + to.split('/')[1])?.[1] ?? 'Not found';
  // Each page its own title (WCAG 2.4.2): what a screen reader says on arriving, and the tab's and history's name.
  useEffect(() => {
    document.title = `${title} · Ferry`;
  }, [title]);

  let page;
  if (path.startsWith('/files') || path === '/') page = (
    <main id="main">
      <h1 class="visually-hidden">Files</h1>
      <FilesPage api={session.api} path={filesPathOf(path)} uploads={uploads} version={version} />
    </main>
  );
  else if (path.startsWith('/shares')) page = <SharesPage api={session.api} />;
  else if (path.startsWith('/trash')) page = <TrashPage api={session.api} />;
  else if (path.startsWith('/tokens')) page = <TokensPage api={session.api} />;
  else if (path.startsWith('/account')) page = <AccountPage api={session.api} onPasswordChanged={() => void session.signOut('Password changed: sign in with the new one.').catch(() => undefined)} />;
  else if (path.startsWith('/admin') && user.role === 'admin') page = <AdminPage api={session.api} path={path} />;
  else
    page = (
      <main id="main">
        <h1>Not found</h1>
        <p>
          There is no page at {path}.{' '}
          <a href="/files" onClick={(e) => linkClick(e, '/files')}>
            Go to your files
          </a>
          .
        </p>
      </main>
    );

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/files" onClick={(e) => linkClick(e, '/files')}>
          <Logo /> Ferry
        </a>
        <nav aria-label="Main">
          {nav.map(([to, label]) => (
            <a key={to} href={to} onClick={(e) => linkClick(e, to)} aria-current={section === '/' + to.split('/')[1] ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who">
          {user.name}{' '}
          <button type="button" onClick={() => (uploads.unfinished() > 0 ? setSigningOut(true) : signOut())}>
            Sign out
          </button>
        </span>
      </header>
      {page}
      {signingOut && (
        <Confirm
          title="Sign out"
          text={`${uploads.unfinished() === 1 ? '1 upload is' : `${uploads.unfinished()} uploads are`} not done: signing out stops ${uploads.unfinished() === 1 ? 'it' : 'them'}. After you sign in again, pick the same files and they go on from where they stopped.`}
          confirm="Sign out"
          onConfirm={async () => signOut()}
          onClose={() => setSigningOut(false)}
        />
      )}
    </>
  );
}
