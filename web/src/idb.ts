/**
 * Uploads in progress, kept in IndexedDB so that a reload (or a crash of the tab) can offer
 * to resume them: what was being sent where, the server's session id and how far it got. The
 * bytes are not kept: after a reload the person picks the file again, the upload starts anew and the
 * server answers that most chunks are already there, so only the missing ones travel.
 */
export interface PendingUpload {
  id: string;
  /** Whose upload: `user:<name>` or `share:<key>`. */
  scope: string;
  path: string;
  name: string;
  size: number;
  lastModified: number;
  sessionId?: string;
  /** Bytes the server had of it when last saved (chunks sent or found there): what its progress shows until the file is picked again. */
  bytesDone?: number;
}

const DB = 'ferry';
const STORE = 'uploads';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore(STORE, { keyPath: 'id' });
      store.createIndex('scope', 'scope');
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let db: Promise<IDBDatabase> | undefined;

async function tx<T>(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  db ??= open();
  const d = await db;
  return new Promise((resolve, reject) => {
    const t = d.transaction(STORE, mode);
    const req = fn(t.objectStore(STORE));
    t.oncomplete = () => resolve(req.result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

export const pendingUploads = {
  put: (p: PendingUpload) => tx('readwrite', (s) => s.put(p)).then(() => undefined),
  remove: (id: string) => tx('readwrite', (s) => s.delete(id)).then(() => undefined),
  list: (scope: string) => tx<PendingUpload[]>('readonly', (s) => s.index('scope').getAll(scope) as IDBRequest<PendingUpload[]>),
};
