import { describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { FerryClient } from './client.js';
import { HttpCore } from './wire.js';
import { FetchTransport } from './fetch-transport.js';

function thrownBy(make: () => unknown): unknown {
  try {
    make();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('the server URL of a client', () => {
  it('one that is not a URL, or not http(s), is FERRY_ERR_CONFIG when the client is made (it was a bare TypeError)', () => {
    for (const server of ['not a url', 'nas:7373', 'ftp://127.0.0.1/x', 'file:///srv/ferry']) {
      const err = thrownBy(() => new FerryClient({ server, token: 't' }));
      expect({ server, config: isFerryError(err, 'FERRY_ERR_CONFIG') }).toEqual({ server, config: true });
      const core = thrownBy(() => new HttpCore({ server, transport: new FetchTransport() }));
      expect({ server, config: isFerryError(core, 'FERRY_ERR_CONFIG') }).toEqual({ server, config: true });
    }
    expect((thrownBy(() => new FerryClient({ server: 'not a url' })) as Error).message).toBe('not a server URL: "not a url" (such as http://127.0.0.1:7373)');
    expect((thrownBy(() => new FerryClient({ server: 'ftp://me:secret@host/x' })) as Error).message).toBe('the server URL must be http or https, not ftp:');
  });

  it('http and https URLs, with a path prefix, make a client', async () => {
    for (const server of ['http://127.0.0.1:7373', 'https://files.example.org/ferry/']) {
      const client = new FerryClient({ server, token: 't' });
      expect(client.server).toBe(server);
      await client.close();
    }
  });
});
