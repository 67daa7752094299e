/**
 * The web app's entry. A share link (`/s/KEY...`) shows its public page; every other path
 * needs a session: resumed from the refresh cookie if there is one, else the sign-in page.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './styles.css';
import { usePath } from './router.js';
import { Session } from './session.js';
import { App } from './ui/app.js';
import { rescueLostFocus } from './ui/common.js';
import { lazyPage } from './ui/lazy.js';
import { SignIn } from './ui/signin.js';

const session = new Session();
const SharePage = lazyPage(async () => (await import('./ui/share-page.js')).SharePage);

function Root() {
  const path = usePath();
  const [ready, setReady] = useState(false);
  const [, setTick] = useState(0);
  const bump = () => setTick((n) => n + 1);
  const isShare = path.startsWith('/s/');
  useEffect(() => {
    session.onChange = bump;
    if (isShare) return;
    void session.resume().finally(() => setReady(true));
  }, []);
  useEffect(() => {
    // Signed in, the app names each page itself (App).
    if (isShare || !session.signedIn) document.title = isShare ? 'Shared with you · Ferry' : 'Sign in · Ferry';
  });
  if (isShare) return <SharePage />;
  if (!ready) return <p class="loading">Loading…</p>;
  return session.signedIn ? <App session={session} /> : <SignIn session={session} />;
}

rescueLostFocus();
render(<Root />, document.getElementById('app')!);
