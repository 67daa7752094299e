/**
 * A manifest's entries against its bytes, over real HTTP: a file may have 16 chunks, and one
 * more per 64 bytes (FastCDC's smallest minSize). Before, nothing bounded them: a 20,000-byte
 * file of 20,000 one-byte entries (one chunk sent) grew the metadata database by 9.9 MB for
 * 20 KB of quota and took the server 8.7 s to download; a session of unknown size took 20,000
 * entries a request without end.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf, type ChunkRef } from '../../src/core/manifest.js';
import { startTestServer, statementsOf, type TestServer } from '../helpers/in-process-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.close();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const one = Buffer.from('z');
const tiny: ChunkRef = { hash: sha256(one), size: 1 };
/** `n` entries of the 1-byte chunk, then one of `rest` bytes (of a chunk never sent) if any. */
function entries(n: number, rest = 0): ChunkRef[] {
  const list: ChunkRef[] = Array.from({ length: n }, () => tiny);
  if (rest > 0) list.push({ hash: sha256(Buffer.alloc(rest, 'r')), size: rest });
  return list;
}

async function expectRefused(res: Response): Promise<void> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status: 400 });
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  expect(body.error.code).toBe('FERRY_ERR_VALIDATION');
  expect(body.error.message).toMatch(/a file may have at most \d+/);
}

const create = (spec: Record<string, unknown>) => t.api('/api/v1/uploads', { method: 'POST', json: spec });
const sized = (path: string, chunks: ChunkRef[]) => ({ path, size: chunks.reduce((a, c) => a + c.size, 0), hash: fileHashOf(chunks), chunks });

describe('chunk entries per file', () => {
  it('refuses a manifest of many tiny chunks, alone or in a batch, and takes one at the bound', async () => {
    await expectRefused(await create(sized('/tiny.bin', entries(20_000))));
    await expectRefused(await create({ files: [sized('/ok.bin', entries(3)), sized('/tiny.bin', entries(17))] }));
    // 1,000 bytes: 16 + 15 entries at most (30 one-byte chunks and one of 970 bytes: 31).
    await expectRefused(await create(sized('/edge.bin', entries(31, 969))));
    const res = await create(sized('/edge.bin', entries(30, 970)));
    expect(res.status).toBe(201);
    // What a chunker makes of 10 MB in 64-byte chunks (the smallest minSize) is taken, in an unsealed session too.
    const id = ((await (await create({ path: '/small-chunks.bin' })).json()) as { id: string }).id;
    const sixtyFour: ChunkRef[] = Array.from({ length: 20_000 }, (_, i) => ({ hash: sha256(Buffer.from(String(i).padStart(64, '0'))), size: 64 }));
    expect((await t.api(`/api/v1/uploads/${id}/chunks`, { method: 'POST', json: { chunks: sixtyFour } })).status).toBe(200);
  });

  it('refuses appends of tiny chunks to a session of unknown size, counting what it holds already', async () => {
    const res = await create({ path: '/stream.bin' });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const append = (chunks: ChunkRef[]) => t.api(`/api/v1/uploads/${id}/chunks`, { method: 'POST', json: { chunks } });
    expect((await append(entries(16))).status).toBe(200);
    await expectRefused(await append(entries(1)));
    await expectRefused(await append(entries(20_000)));
    // A chunk of 128 bytes takes an entry and allows two: one more tiny one fits; nothing refused was kept.
    expect((await append([{ hash: sha256(Buffer.alloc(128, 'q')), size: 128 }])).status).toBe(200);
    expect((await append(entries(1))).status).toBe(200);
    await expectRefused(await append(entries(1)));
    const status = (await (await t.api(`/api/v1/uploads/${id}`)).json()) as { missing: string[] };
    expect(status.missing.length).toBe(2);
  });

  it("sums a file's entries once an append (the bound and the reservation share the sum)", async () => {
    // The route summed the file's entries for its reservation, then the append again for the bound.
    const { id } = (await (await create({ path: '/summed.bin' })).json()) as { id: string };
    const { result, statements } = await statementsOf(t, () => t.api(`/api/v1/uploads/${id}/chunks`, { method: 'POST', json: { chunks: entries(3, 200) } }));
    expect(result.status).toBe(200);
    expect(statements.filter((q) => /sum\(.*from "upload_entries"/i.test(q))).toHaveLength(1);
  });
});
