/**
 * Parts of the server loaded on their first use, not at start-up (WebDAV, the OpenAPI
 * document, zip downloads, multipart forms): a start that never serves them never loads,
 * compiles or keeps their code. Their routes are registered at start-up all the same (Fastify
 * needs every route before it listens); the handlers behind them come from a dynamic import().
 */

/**
 * `load` run once, on the first call; concurrent first calls share its promise. A failed load
 * is not kept: the next call tries again (a request fails, the server does not stay broken).
 */
export function onFirstUse<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    if (loading) return loading;
    const started = load();
    loading = started;
    started.catch(() => {
      if (loading === started) loading = undefined;
    });
    return started;
  };
}
