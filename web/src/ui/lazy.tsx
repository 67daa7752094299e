/**
 * Pages fetched as their own chunk on the first visit to one. The first page's script has a
 * size budget (test/server/web-routes); the pages most visits never reach (admin, tokens,
 * account, share links, trash, a share link's public page) load when asked for.
 */
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export function lazyPage<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loading: Promise<ComponentType<P>> | undefined;
  return function LazyPage(props: P) {
    const [page, setPage] = useState<{ C: ComponentType<P> }>();
    const [failed, setFailed] = useState(false);
    useEffect(() => {
      loading ??= load();
      loading.then(
        (C) => setPage({ C }),
        () => {
          loading = undefined; // the next visit tries again
          setFailed(true);
        },
      );
    }, []);
    if (page) return <page.C {...props} />;
    return <main id="main">{failed ? <p role="alert">This page did not load (is the server reachable?): reload to try again.</p> : <p class="loading">Loading…</p>}</main>;
  };
}

/**
 * A part of a page (a dialog's folder picker) fetched as its own chunk when first shown:
 * nothing until it is there, and a line saying so if it could not load (the rest of the
 * dialog still works).
 */
export function lazyPart<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loading: Promise<ComponentType<P>> | undefined;
  return function LazyPart(props: P) {
    const [part, setPart] = useState<{ C: ComponentType<P> } | 'failed'>();
    useEffect(() => {
      loading ??= load();
      loading.then(
        (C) => setPart({ C }),
        () => {
          loading = undefined;
          setPart('failed');
        },
      );
    }, []);
    if (part === 'failed') return <p class="hint">The folder list did not load: type the folder's path.</p>;
    return part ? <part.C {...props} /> : null;
  };
}
