import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writePrivateJsonFile } from './private-file.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('writePrivateJsonFile', () => {
  it('writes 0600 and never through a link planted under its temporary name', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-private-'));
    const victim = join(dir, 'victim');
    await writeFile(victim, 'untouched', { mode: 0o644 });
    const file = join(dir, 'state.json');
    await symlink(victim, `${file}.${process.pid}.tmp`);
    await writePrivateJsonFile(file, { id: 'x' });
    expect(await readFile(victim, 'utf8')).toBe('untouched');
    expect((await stat(victim)).mode & 0o777).toBe(0o644);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ id: 'x' });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });
});
