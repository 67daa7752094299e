/**
 * SSH keys on the web app's Account page: a public key pasted there logs in with OpenSSH's
 * `sftp` (the server's SFTP front, real client), a key the server refuses says why, and a
 * removed key no longer logs in.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKey, sftpBatch, startSftpServer, type SftpServer } from '../helpers/sftp.js';
import { addUser } from '../helpers/users.js';
import { freshContext, launch, signIn } from './browser.js';

let s: SftpServer;
let browser: Browser;

beforeAll(async () => {
  s = await startSftpServer();
  await addUser(s.t, 'sam', { password: 'sam-password-1' });
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

describe('SSH keys on the Account page', () => {
  it('a key pasted in the browser logs in with sftp; a weak or broken key is refused with the reason; a removed key no longer logs in', async () => {
    const { key, publicKey } = await newKey(s, 'sam');
    const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', key + '.pub']).toString().split(/\s+/)[1];
    const sam = { name: 'sam', key, publicKey };
    const before = await sftpBatch(s, sam, ['pwd']);
    expect(before.code).toBe(255);
    expect(before.stderr).toMatch(/Permission denied \(publickey\)/);

    const { context, page, errors } = await freshContext(browser);
    await signIn(page, s.t.url, 'sam', 'sam-password-1');
    await page.getByRole('link', { name: 'Account' }).click();
    await page.getByText('You have no SSH keys.').waitFor();
    const field = page.getByLabel('Public key (a line of ~/.ssh/id_ed25519.pub)');

    // A 1024-bit RSA key and a line that is not a key: the server's reason, nothing added.
    const weak = join(s.dir, 'weak');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '1024', '-N', '', '-f', weak]);
    await field.fill(await readFile(weak + '.pub', 'utf8'));
    await page.getByRole('button', { name: 'Add key' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/at least 2048 bits/);
    await field.fill('ssh-ed25519 not-base64!! me@laptop');
    await page.getByRole('button', { name: 'Add key' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe("The ssh-ed25519 key's data is not base64.");
    expect(((await (await s.t.api('/api/v1/users/sam/keys')).json()) as unknown[]).length).toBe(0);
    // The private key pasted by mistake: refused in the browser, never sent to the server.
    const posted: string[] = [];
    page.on('request', (r) => void (r.method() === 'POST' && r.url().includes('/keys') && posted.push(r.url())));
    await field.fill(await readFile(key, 'utf8'));
    await page.getByRole('button', { name: 'Add key' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/^This is a private key, which stays on this machine \(nothing was sent\): give the public one/);
    expect(posted).toEqual([]);

    await field.fill(publicKey + '\n');
    await page.getByRole('button', { name: 'Add key' }).click();
    await page.getByRole('status').getByText(`Added ${fingerprint}.`).waitFor();
    await page.getByRole('cell', { name: `ssh-ed25519 ${fingerprint}` }).waitFor();
    await page.getByRole('cell', { name: 'sam@test' }).waitFor();
    expect(await field.inputValue()).toBe('');

    const ok = await sftpBatch(s, sam, ['pwd']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Remote working directory: /');

    await page.getByRole('button', { name: `Remove SSH key ${fingerprint}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await page.getByText('You have no SSH keys.').waitFor();
    const after = await sftpBatch(s, sam, ['pwd']);
    expect(after.code).toBe(255);
    expect(after.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(errors).toEqual([]);
    await context.close();
  });
});
