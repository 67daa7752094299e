/** A small client-side router over the History API: the server answers every page path with the app. */
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set<() => void>();

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search) return;
  if (options.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const l of listeners) l();
}

addEventListener('popstate', () => {
  for (const l of listeners) l();
});

/** The current path (re-renders the caller when it changes). */
export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    listeners.add(update);
    return () => void listeners.delete(update);
  }, []);
  return path;
}

/** `/files/a%20b/c` -> `/a b/c` (the Ferry path of a files page). */
export function filesPathOf(pathname: string): string {
  const rest = pathname.replace(/^\/files\/?/, '');
  const segments = rest.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  return '/' + segments.join('/');
}

export function filesUrl(path: string): string {
  const segments = path.split('/').filter(Boolean).map((s) => encodeURIComponent(s));
  return '/files' + (segments.length ? '/' + segments.join('/') : '');
}

/** Follows a plain left click on an in-app link without reloading the page. */
export function linkClick(e: MouseEvent, to: string): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(to);
}
