/**
 * undici's Pool and buildConnector without undici's index. The index also loads fetch,
 * WebSocket, cookies, the cache and the mocks, and through them Node's own copy of undici:
 * about 90 ms of CPU at every CLI start that talks to a server (measured with --cpu-prof on
 * `ferry sync`), for nothing the SDK uses. The index does one thing the SDK needs: it puts
 * the request API (`request`, `stream`...) on Dispatcher's prototype; done here the same way.
 */
import type { Pool, buildConnector } from 'undici';

export interface UndiciParts {
  Pool: typeof Pool;
  buildConnector: typeof buildConnector;
}

let loaded: Promise<UndiciParts> | undefined;

/** undici is CommonJS: Node gives `module.exports` as `default`, and so does the CLI's bundle. */
export function loadUndici(): Promise<UndiciParts> {
  loaded ??= (async () => {
    const [dispatcher, api, pool, connect] = await Promise.all([
      import('undici/lib/dispatcher/dispatcher.js'),
      import('undici/lib/api/index.js'),
      import('undici/lib/dispatcher/pool.js'),
      import('undici/lib/core/connect.js'),
    ]);
    Object.assign(dispatcher.default.prototype, api.default);
    return { Pool: pool.default, buildConnector: connect.default };
  })();
  return loaded;
}
