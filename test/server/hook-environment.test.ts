/**
 * Command hooks and the pre-upload hook run without the server's own secrets in their
 * environment. Before the fix a hook inherited everything `ferry serve` was started with:
 * FERRY_ADMIN_TOKEN (every account), FERRY_SESSION_KEY (forges any user's web session),
 * FERRY_ENCRYPTION_KEY (every stored byte) and FERRY_METRICS_TOKEN, handed to a program that
 * may be a scanner fed untrusted files, and whose first output line reaches the uploader.
 * Nor do they get the keys of its database and stores (PGPASSWORD, the AWS credentials,
 * FERRY_<TYPE>_<OPTION> of a secret option, FERRY_TOKEN), left out since the sixteenth round.
 * The rest of the environment (PATH, the operator's own variables) is still passed, with
 * the hook's own FERRY_EVENT, FERRY_PATH, FERRY_USER and FERRY_SIZE.
 */
import { randomBytes } from 'node:crypto';
import { generateMasterKeyText } from '../../src/backends/decorators/key-ring.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/files.js';
import { startServer, type RunningServer } from '../helpers/server.js';

let dir: { path: string; cleanup: () => Promise<void> };
let server: RunningServer;
const secrets = {
  FERRY_SESSION_KEY: randomBytes(32).toString('base64'),
  FERRY_ENCRYPTION_KEY: generateMasterKeyText(),
  FERRY_METRICS_TOKEN: 'metrics-' + randomBytes(16).toString('hex'),
};
/**
 * The keys of the server's database and stores, as README's "Deployment" passes them: they
 * reached hooks until the sixteenth security round (PGPASSWORD writes every account's row;
 * the store's credentials read every stored byte).
 */
const storeSecrets = {
  PGPASSWORD: 'pg-' + randomBytes(12).toString('hex'),
  AWS_ACCESS_KEY_ID: 'AKIA' + randomBytes(8).toString('hex').toUpperCase(),
  AWS_SECRET_ACCESS_KEY: 'aws-' + randomBytes(16).toString('hex'),
  AWS_SESSION_TOKEN: 'sts-' + randomBytes(16).toString('hex'),
  FERRY_S3_SECRET_ACCESS_KEY: 's3-' + randomBytes(16).toString('hex'),
  FERRY_SFTP_PASSWORD: 'sftp-' + randomBytes(12).toString('hex'),
  FERRY_SFTP_PASSPHRASE: 'phrase-' + randomBytes(12).toString('hex'),
  FERRY_FERRY_TOKEN: 'ferry_' + randomBytes(16).toString('hex'),
  FERRY_TOKEN: 'ferry_' + randomBytes(16).toString('hex'),
  FERRY_CONFIG_PASS: 'pass-' + randomBytes(12).toString('hex'),
};

function environmentOf(file: string): Map<string, string> {
  const lines = readFileSync(file, 'utf8').split('\0').filter(Boolean);
  return new Map(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

async function waitForFile(file: string): Promise<void> {
  for (let i = 0; i < 600 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
  expect(existsSync(file), `${file} was never written`).toBe(true);
}

beforeAll(async () => {
  dir = await tempDir('ferry-hook-env-');
  const hooked = join(dir.path, 'hook.env');
  const scanned = join(dir.path, 'pre-upload.env');
  // env -0: one NUL-terminated line per variable (values may hold newlines).
  const hooks = JSON.stringify([{ events: ['upload'], command: ['sh', '-c', `env -0 > ${hooked}.tmp && mv ${hooked}.tmp ${hooked}`] }]);
  const pre = JSON.stringify({ command: ['sh', '-c', `cat > /dev/null; env -0 > ${scanned}`] });
  server = await startServer({ dataDir: join(dir.path, 'data'), env: { ...secrets, ...storeSecrets, AWS_REGION: 'eu-west-3', FERRY_HOOKS: hooks, FERRY_PRE_UPLOAD_HOOK: pre, OPERATOR_SETTING: 'kept' } });
});

afterAll(async () => {
  await server?.stop();
  await dir?.cleanup();
});

describe('the environment of hooks', () => {
  it("holds none of the server's secrets, and the rest as before", async () => {
    const res = await fetch(`${server.url}/api/v1/files/hooked.txt`, { method: 'PUT', body: 'hooked', headers: { authorization: `Bearer ${server.adminToken}` } });
    expect(res.status, await res.clone().text()).toBe(201);
    const scanned = environmentOf(join(dir.path, 'pre-upload.env'));
    await waitForFile(join(dir.path, 'hook.env'));
    const hooked = environmentOf(join(dir.path, 'hook.env'));
    for (const [what, env] of [['pre-upload hook', scanned], ['command hook', hooked]] as const) {
      for (const name of ['FERRY_ADMIN_TOKEN', ...Object.keys(secrets), ...Object.keys(storeSecrets)]) expect(env.has(name), `${what}: ${name}`).toBe(false);
      const values = [...env.values()].join('\n');
      for (const secret of [server.adminToken, ...Object.values(secrets), ...Object.values(storeSecrets)]) expect(values.includes(secret), what).toBe(false);
      expect(env.get('OPERATOR_SETTING'), what).toBe('kept');
      expect(env.get('AWS_REGION'), what).toBe('eu-west-3');
      expect(env.get('PATH'), what).toBe(process.env.PATH);
    }
    expect(scanned.get('FERRY_EVENT')).toBe('pre-upload');
    expect(scanned.get('FERRY_PATH')).toBe('/hooked.txt');
    expect(scanned.get('FERRY_USER')).toBe('admin');
    expect(hooked.get('FERRY_EVENT')).toBe('upload');
  });
});
