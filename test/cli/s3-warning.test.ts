/**
 * The AWS SDK prints a multi-line NodeVersionSupportWarning on its first client under Node
 * 20; Ferry keeps that one warning from users' terminals (FACTS.md: SDK versions are pinned),
 * and no other: Node's own warnings still reach stderr.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';

let s3: S3rverHandle;
let tmp: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  s3 = await startS3rver(['ferry-warn']);
  tmp = await tempDir();
});
afterAll(async () => {
  await s3?.stop();
  await tmp?.cleanup();
});

describe('the AWS SDK under Node 20', () => {
  it('a command that uses S3 prints no NodeVersionSupportWarning; other warnings still show', async () => {
    const src = join(tmp.path, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'to s3');
    // A warning of someone else's, emitted as the CLI starts: it must still be printed.
    const canary = join(tmp.path, 'canary.mjs');
    await writeFile(canary, "process.emitWarning('ferry test canary', 'CanaryWarning');\n");
    const env = {
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      FERRY_CONFIG_DIR: join(tmp.path, 'config'),
      NODE_OPTIONS: `--import ${canary}`,
    };
    const r = await runFerry(['copy', src, 's3:ferry-warn/x'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ferry copy: transferred 1 file/);
    expect(r.stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript/);
    expect(r.stderr).toContain('CanaryWarning: ferry test canary');
    const back = await runFerry(['check', src, 's3:ferry-warn/x'], { env });
    expect(back.code, back.stderr).toBe(0);
    expect(back.stderr).not.toMatch(/NodeVersionSupportWarning/);
  });
});
