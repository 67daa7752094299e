/**
 * The settings table and the config file: every setting from file, environment and flag
 * with flag > environment > file; line-numbered errors for bad files in all three formats;
 * `ferry config check`; the generated docs; SIGHUP swapping a TLS certificate under a
 * live connection of the real `ferry serve` process.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/server/config-file.js';
import { defaultConfig } from '../../src/server/config.js';
import { applySettings, envName, exampleYaml, misspeltVariables, resolveSettings, SETTINGS, settingsMarkdown, yamlValueOf } from '../../src/server/settings.js';
import { createCa, createServerCert } from '../../src/server/x509.js';
import { runFerry } from '../helpers/cli.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const root = join(import.meta.dirname, '../..');
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'ferry-config-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const fileOf = (yaml: string) => parseConfigText('test.yaml', yaml).settings!;
const flagValue = (kind: string, text: string) => (kind === 'boolean' ? text === 'true' : kind === 'list' ? text.split(',') : text);

describe('the settings table', () => {
  it('every setting is read from the file, the environment and a flag, with flag > env > file', () => {
    for (const s of SETTINGS) {
      const [a, b] = s.examples;
      const want = (text: string) => s.kind.fromText(text);
      expect(JSON.stringify(want(a)), s.key).not.toBe(JSON.stringify(want(b)));
      const file = fileOf(`${s.key}: ${yamlValueOf(s, a)}\n`);
      const env = { [envName(s.key)]: b };
      const flags = { [s.key]: flagValue(s.kind.name, a) };

      const fromFile = resolveSettings({ file });
      expect(fromFile.problems, s.key).toEqual([]);
      expect(fromFile.resolved.values.get(s.key), `${s.key} from the file`).toEqual(want(a));
      expect(fromFile.resolved.sources.get(s.key)).toBe('file');

      const envOverFile = resolveSettings({ file, env });
      expect(envOverFile.resolved.values.get(s.key), `${s.key}: env over file`).toEqual(want(b));
      expect(envOverFile.resolved.sources.get(s.key)).toBe('env');

      if (s.noFlag) {
        // Secrets have no flag: a flag value is ignored, the variable stays.
        expect(resolveSettings({ file, env, flags }).resolved.values.get(s.key)).toEqual(want(b));
        continue;
      }
      const flagOverEnv = resolveSettings({ file, env, flags });
      expect(flagOverEnv.problems).toEqual([]);
      expect(flagOverEnv.resolved.values.get(s.key), `${s.key}: flag over env`).toEqual(want(a));
      expect(flagOverEnv.resolved.sources.get(s.key)).toBe('flag');
      // And it lands in the server's configuration.
      const config = applySettings(defaultConfig(), flagOverEnv.resolved);
      expect(JSON.stringify(config), s.key).not.toBe(JSON.stringify(applySettings(defaultConfig(), resolveSettings({ env }).resolved)));
    }
  });

  it('reads values as the README says: durations, sizes and `none`, lists by comma or space, JSON for structured ones', () => {
    const { resolved, problems } = resolveSettings({
      env: { FERRY_UPLOAD_TTL: '90s', FERRY_GC_INTERVAL: '10m', FERRY_BODY_TIMEOUT: '24h', FERRY_GC_GRACE: '7d', FERRY_DAV_PROPERTY_BYTES: '512k', FERRY_BODY_MEMORY: '1.5G', FERRY_IP_DENY: '10.0.0.0/8, 192.168.0.0/16 172.16.0.0/12', FERRY_VERSIONS: '{"keep": 3}' },
      flags: { maxFileSize: 'none', ipAllow: ['10.0.0.0/8', '192.168.0.0/16'] },
    });
    expect(problems).toEqual([]);
    const v = (key: string) => resolved.values.get(key);
    expect([v('uploadTtl'), v('gcInterval'), v('bodyTimeout'), v('gcGrace')]).toEqual([90_000, 600_000, 86_400_000, 7 * 86_400_000]);
    expect([v('davPropertyBytes'), v('bodyMemory'), v('maxFileSize')]).toEqual([512 * 1024, 1.5 * 2 ** 30, null]);
    expect(v('ipDeny')).toEqual(['10.0.0.0/8', '192.168.0.0/16', '172.16.0.0/12']);
    expect(v('ipAllow')).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
    expect(v('versions')).toMatchObject({ keep: 3, days: 0 });
    // A bare number is seconds, in a file and in a variable; a size that is none of these is refused.
    expect(resolveSettings({ file: fileOf('uploadTtl: 90\n') }).resolved.values.get('uploadTtl')).toBe(90_000);
    expect(resolveSettings({ env: { FERRY_UPLOAD_TTL: '90' } }).resolved.values.get('uploadTtl')).toBe(90_000);
    expect(resolveSettings({ env: { FERRY_MAX_FILE_SIZE: 'lots' } }).problems).toHaveLength(1);
  });

  it('takes structured values in a flag or variable in the form --help shows them (YAML flow) as well as JSON', () => {
    // `ferry serve --help` shows the default as {keep: 0, days: 0}; a user who copies that form
    // was told "must be JSON" (fifteenth round).
    const flag = resolveSettings({ flags: { versions: '{keep: 5, days: 30, paths: {/docs: {keep: 50}}}' } });
    expect(flag.problems).toEqual([]);
    expect(flag.resolved.values.get('versions')).toMatchObject({ keep: 5, days: 30 });
    const hooks = resolveSettings({ env: { FERRY_HOOKS: '[{events: [upload], command: [logger, -t, ferry], timeout: 5s}]' } });
    expect(hooks.problems).toEqual([]);
    expect(hooks.resolved.values.get('hooks')).toMatchObject([{ events: ['upload'], command: ['logger', '-t', 'ferry'] }]);
    // Still checked as before, and a broken text is named.
    expect(resolveSettings({ flags: { versions: '{keep: ten}' } }).problems.map((p) => p.message).join('\n')).toMatch(/keep: must be a whole number >= 0, not string "ten"/);
    expect(resolveSettings({ flags: { versions: '{keep: 5' } }).problems.map((p) => p.message).join('\n')).toMatch(/must be JSON or YAML \(\{keep, days, paths\}\), not "\{keep: 5"/);
    expect(resolveSettings({ flags: { versions: 'lots' } }).problems.map((p) => p.message).join('\n')).toMatch(/must be an object, not string "lots"/);
  });

  it('the README table is the generated one, and the example file is the generated one and valid', async () => {
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain(settingsMarkdown());
    for (const s of SETTINGS) expect(settingsMarkdown()).toContain(`\`${envName(s.key)}\``);
    const example = readFileSync(join(root, 'deploy/ferry.example.yaml'), 'utf8');
    expect(example).toBe(exampleYaml());
    // Uncommented, every line of the example is a valid setting.
    const live = example.replace(/^# ([a-zA-Z]+: )/gm, '$1');
    const parsed = parseConfigText('example.yaml', live);
    expect(Object.keys(parsed.settings!.values).sort()).toEqual(SETTINGS.map((s) => s.key).sort());
    expect(resolveSettings({ file: parsed.settings }).problems).toEqual([]);
  });

  it('`ferry config docs` prints the README table, `ferry config example` deploy/ferry.example.yaml (README, "Configuration")', async () => {
    const docs = await runFerry(['config', 'docs']);
    expect(docs.code).toBe(0);
    expect(docs.stdout.trim().length).toBeGreaterThan(1000);
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain(docs.stdout.trim());
    const example = await runFerry(['config', 'example']);
    expect(example.code).toBe(0);
    expect(example.stdout).toBe(readFileSync(join(root, 'deploy/ferry.example.yaml'), 'utf8'));
  });
});

describe('what the help says of each setting', () => {
  it("each setting's default, as --help and `ferry config docs` write it, is what the server uses without it", () => {
    const builtIn = JSON.stringify(defaultConfig());
    const withDefaults = defaultConfig();
    for (const s of SETTINGS) {
      if (s.default === undefined) continue;
      const r = resolveSettings({ file: fileOf(`${s.key}: ${yamlValueOf(s, s.default)}\n`) });
      expect(r.problems, s.key).toEqual([]);
      applySettings(withDefaults, r.resolved);
    }
    // Settings that read `false` or `local` as their default fill in a field left undefined.
    const filledIn = { ...withDefaults, sftpPasswordAuth: undefined, tlsSelfSigned: undefined, store: undefined };
    expect(JSON.stringify(filledIn)).toBe(builtIn);
  });

  it('every row of the settings table has its five cells (a `|` inside one is escaped)', () => {
    const rows = settingsMarkdown().trimEnd().split('\n');
    expect(rows).toHaveLength(SETTINGS.length + 2);
    for (const row of rows) expect(row.replace(/\\\|/g, '').split('|').length, row).toBe(7);
    expect(settingsMarkdown()).toContain('| fatal \\| error \\| warn \\| info \\| debug \\| trace | `info` |');
  });

  it('a size under its minimum is refused in the unit the flag takes (16M), the bytes after', () => {
    const r = resolveSettings({ flags: { bodyMemory: '12M' } });
    expect(r.problems.map((p) => p.message)).toEqual(['--body-memory: must be at least 16M (16777216 bytes), not "12M"']);
    expect(resolveSettings({ flags: { bodyMemory: '16M' } }).problems).toEqual([]);
  });

  it('publicUrl must be an http(s) base a share link can start with; a host without a scheme is refused, naming the setting', () => {
    const problems = (v: string) => resolveSettings({ flags: { publicUrl: v } }).problems.map((p) => p.message);
    expect(problems('files.example.com:443')).toEqual(['--public-url: must be an https:// or http:// address with a host, not "files.example.com:443" (examples: https://files.example.com, https://nas.lan:7373)']);
    expect(problems('files.example.com')).toEqual(['--public-url: not an address: "files.example.com" (examples: https://files.example.com, https://nas.lan:7373)']);
    expect(problems('javascript:alert(1)')[0]).toMatch(/^--public-url: must be an https:\/\/ or http:\/\/ address/);
    expect(problems('https://files.example.com/?x=1')[0]).toMatch(/^--public-url: is the base of share links: no user:password@, \?query or #fragment/);
    expect(resolveSettings({ env: { FERRY_PUBLIC_URL: 'ftp://files.example.com' } }).problems.map((p) => p.message)[0]).toMatch(/^FERRY_PUBLIC_URL: must be an https:\/\/ or http:\/\//);
    expect(resolveSettings({ file: fileOf('publicUrl: files.example.com:443\n') }).problems.map((p) => p.message)[0]).toMatch(/^publicUrl: must be an https:\/\//);
    for (const ok of ['https://files.example.com', 'http://nas.lan:7373', 'https://example.com/ferry/']) expect(problems(ok)).toEqual([]);
  });

  it('uploadTtl under a minute is refused, naming the setting (0 expired every upload session before its first chunk)', () => {
    const why = 'an upload whose next request comes later loses its session: 0 made every upload fail';
    expect(resolveSettings({ flags: { uploadTtl: '0' } }).problems.map((p) => p.message)).toEqual([`--upload-ttl: must be 60s or more (${why}), not "0"`]);
    expect(resolveSettings({ env: { FERRY_UPLOAD_TTL: '30s' } }).problems.map((p) => p.message)).toEqual([`FERRY_UPLOAD_TTL: must be 60s or more (${why}), not "30s"`]);
    expect(resolveSettings({ file: fileOf('uploadTtl: 0\n') }).problems.map((p) => p.message)).toEqual([`uploadTtl: must be 60s or more (${why}), not number 0`]);
    const atFloor = resolveSettings({ flags: { uploadTtl: '1m' } });
    expect(atFloor.problems).toEqual([]);
    const config = defaultConfig();
    applySettings(config, atFloor.resolved);
    expect(config.uploadTtlMs).toBe(60_000);
  });

  it('webhookTimeout, webhookRetryDelay and a hook\'s timeout under 1 s are refused, naming the setting (a timeout of 0 failed every delivery)', () => {
    const r = resolveSettings({ flags: { webhookTimeout: '0' }, env: { FERRY_WEBHOOK_RETRY_DELAY: '0' } });
    expect(r.problems.map((p) => p.message).sort()).toEqual([
      '--webhook-timeout: must be 1s or more (0 failed every delivery before it was sent), not "0"',
      'FERRY_WEBHOOK_RETRY_DELAY: must be 1s or more (0 spent every attempt at once, before a receiver had a moment to come back), not "0"',
    ]);
    expect(resolveSettings({ file: fileOf('webhookTimeout: 0.5\n') }).problems.map((p) => p.message)).toEqual(['webhookTimeout: must be 1s or more (0 failed every delivery before it was sent), not number 0.5']);
    const atFloor = resolveSettings({ flags: { webhookTimeout: '1s', webhookRetryDelay: '1s' } });
    expect(atFloor.problems).toEqual([]);
    const config = defaultConfig();
    applySettings(config, atFloor.resolved);
    expect([config.webhookTimeoutMs, config.webhookRetryDelayMs]).toEqual([1000, 1000]);
    // A hook's timeout of 0 killed it at once: a pre-upload hook then rejected every upload.
    const hooks = resolveSettings({ env: { FERRY_PRE_UPLOAD_HOOK: '{command: [scan], timeout: 0}', FERRY_HOOKS: '[{events: [upload], command: [x], timeout: 500ms}]' } });
    expect(hooks.problems.map((p) => p.message).sort()).toEqual([
      'FERRY_HOOKS: 0.timeout: must be 1s or more (the program is killed once it has run this long), not string "500ms"',
      'FERRY_PRE_UPLOAD_HOOK: timeout: must be 1s or more (the program is killed once it has run this long), not number 0',
    ]);
    expect(resolveSettings({ env: { FERRY_PRE_UPLOAD_HOOK: '{command: [scan], timeout: 1s}' } }).problems).toEqual([]);
  });

  it('gcMinAge under 10 s and tusClaim under 3 s are refused, saying why; at their floors they land in the config', () => {
    const r = resolveSettings({ flags: { gcMinAge: '5s' }, env: { FERRY_TUS_CLAIM: '1s' } });
    expect(r.problems.map((p) => p.message).sort()).toEqual([
      '--gc-min-age: must be 10s or more (a write slowed by a busy database would lose its object), not "5s"',
      'FERRY_TUS_CLAIM: must be 3s or more (it is renewed every third of it), not "1s"',
    ]);
    const fromFile = resolveSettings({ file: fileOf('tusClaim: 2\n') });
    expect(fromFile.problems.map((p) => p.message)).toEqual(['tusClaim: must be 3s or more (it is renewed every third of it), not number 2']);
    const atFloor = resolveSettings({ flags: { gcMinAge: '10s', tusClaim: '3s' } });
    expect(atFloor.problems).toEqual([]);
    const config = defaultConfig();
    applySettings(config, atFloor.resolved);
    expect([config.gcMinAgeMs, config.tusClaimMs]).toEqual([10_000, 3000]);
    expect([defaultConfig().gcMinAgeMs, defaultConfig().tusClaimMs]).toEqual([60_000, 15_000]);
  });
});

describe('boolean settings that are on by default', () => {
  it('say how to turn them off: `--no-x` in `ferry serve --help` and the table, and it resolves to false', async () => {
    const { buildProgram } = await import('../../src/cli/main.js');
    const serve = (await buildProgram()).commands.find((c) => c.name() === 'serve')!;
    let help = '';
    serve.configureOutput({ writeOut: (t) => (help += t), writeErr: (t) => (help += t) });
    serve.outputHelp();
    const onByDefault = SETTINGS.filter((s) => s.kind.name === 'boolean' && s.default === 'true' && !s.noFlag);
    expect(onByDefault.map((s) => s.key)).toEqual(expect.arrayContaining(['fsync', 'defender']));
    for (const s of onByDefault) {
      const off = `--no-${s.key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`;
      expect(help, s.key).toContain(`  ${off} `);
      expect(settingsMarkdown(), s.key).toContain(`(\`${off}\`)`);
      serve.setOptionValue(s.key, undefined);
      serve.parseOptions([off]);
      const flags = { [s.key]: serve.opts()[s.key] as boolean };
      expect(flags[s.key], off).toBe(false);
      expect(resolveSettings({ flags }).resolved.values.get(s.key), off).toBe(false);
      // And it reaches the server's configuration: another one than without the flag.
      expect(JSON.stringify(applySettings(defaultConfig(), resolveSettings({ flags }).resolved)), off).not.toBe(JSON.stringify(applySettings(defaultConfig(), resolveSettings({}).resolved)));
    }
    // Off by default: `--no-x` changes nothing and stays out of the help.
    expect(help).not.toContain('--no-tls-self-signed');
    expect(help).toContain('--tls-self-signed');
  });
});

describe('ferry config check', () => {
  const check = async (name: string, text: string, env?: Record<string, string>) => {
    const file = join(tmp(), name);
    writeFileSync(file, text);
    return { file, r: await runFerry(['config', 'check', file], { env }) };
  };

  it('accepts a valid file in each format', async () => {
    // Each failure with what the CLI said, its stack included (FERRY_DEBUG=1 adds it to an
    // error and nothing to a success): a clean-clone run once saw exit 70, the CLI's code for
    // an unexpected error, for the TOML file, and 750 runs under load did not show it again.
    const debug = { FERRY_DEBUG: '1' };
    const yaml = await check('ok.yaml', 'addr: 127.0.0.1:7000\nmaxFileSize: 10G\nversions: {keep: 3}\n', debug);
    expect(yaml.r.code, yaml.r.stderr).toBe(0);
    expect(yaml.r.stdout).toBe(`${yaml.file}: ok (3 settings)\n`);
    const toml = await check('ok.toml', 'addr = "127.0.0.1:7000"\nipDeny = ["10.0.0.0/8"]\n[versions]\nkeep = 3\ndays = 30\n', debug);
    expect(toml.r.code, toml.r.stderr).toBe(0);
    expect(toml.r.stdout).toBe(`${toml.file}: ok (3 settings)\n`);
    const json = await check('ok.json', '{"addr": "127.0.0.1:7000", "trashDays": 7, "hooks": [{"events": ["upload"], "command": ["true"]}]}', debug);
    expect(json.r.code, json.r.stderr).toBe(0);
    expect(json.r.stdout).toBe(`${json.file}: ok (3 settings)\n`);
  });

  it("the README's example file is valid, all 8 settings of it", async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = /```yaml\n(# \/etc\/ferry\/ferry\.yaml\n[\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toContain('versions:');
    const { file, r } = await check('readme.yaml', example!);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${file}: ok (8 settings)\n`);
  });

  it('YAML: wrong types, unknown keys and nested mistakes, each with its line', async () => {
    const { file, r } = await check('bad.yaml', ['# a comment', 'addr: 7000', 'maxUploadSesions: 3', 'versions:', '  keep: ten', 'hooks:', '  - events: [upload, explode]', '    command: [x]', 'fsync: "no"', ''].join('\n'));
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      `${file}:2: addr: must be a string, not number 7000`,
      `${file}:3: unknown setting "maxUploadSesions" (did you mean "maxUploadSessions"?)`,
      `${file}:5: versions.keep: must be a whole number >= 0, not string "ten"`,
      `${file}:7: hooks.0.events.1: unknown event "explode" (known: upload, download, delete, move, copy, mkdir, share, login, quota)`,
      `${file}:9: fsync: must be true or false, not string "no"`,
    ]);
  });

  it('an unknown key names the setting it is near, by the rules misspelt variables are warned by', async () => {
    const { file, r } = await check('near.yaml', ['data_dir: /srv/ferry', 'port: 7000', 'max_file_size: 1G', 'trashday: 7', 'database_url: postgres://x', 'loglevel: info', 'zzz: 1', ''].join('\n'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `${file}:1: unknown setting "data_dir" (did you mean "data"?)`,
      `${file}:2: unknown setting "port" (did you mean "addr"?)`,
      `${file}:3: unknown setting "max_file_size" (did you mean "maxFileSize"?)`,
      `${file}:4: unknown setting "trashday" (did you mean "trashDays"?)`,
      `${file}:5: unknown setting "database_url" (did you mean "db"?)`,
      `${file}:6: unknown setting "loglevel" (did you mean "logLevel"?)`,
      `${file}:7: unknown setting "zzz"`,
    ]);
  });

  it('bad YAML syntax, TOML and JSON mistakes carry lines too', async () => {
    const yaml = await check('syntax.yaml', 'addr: 127.0.0.1:1\nipDeny: [10.0.0.0/8\nlogLevel: info\n');
    expect(yaml.r.code).toBe(2);
    expect(yaml.r.stderr).toMatch(new RegExp(`^${yaml.file}:3: `));
    const dup = await check('dup.yaml', 'addr: 127.0.0.1:1\naddr: 127.0.0.1:2\n');
    expect(dup.r.stderr).toMatch(new RegExp(`^${dup.file}:2: .*unique`, 'i'));
    const toml = await check('bad.toml', 'addr = "127.0.0.1:1"\nmaxFileSize = "lots"\n\n[versions]\nkeep = -1\n');
    expect(toml.r.stderr.trim().split('\n')).toEqual([`${toml.file}:2: maxFileSize: not a size: "lots" (examples: 512k, 10M or 10MiB, 1.5G; 10GB is 10^9 bytes)`, `${toml.file}:5: versions.keep: must be a whole number >= 0, not number -1`]);
    const tomlSyntax = await check('syntax.toml', 'addr = "127.0.0.1:1"\nlogLevel = \n');
    expect(tomlSyntax.r.stderr).toMatch(new RegExp(`^${tomlSyntax.file}:2: `));
    const json = await check('bad.json', '{\n  "addr": "127.0.0.1:1",\n  "rateLimitIp": "many",\n  "nope": 1\n}\n');
    expect(json.r.stderr.trim().split('\n')).toEqual([`${json.file}:3: rateLimitIp: must be a number, not string "many"`, `${json.file}:4: unknown setting "nope"`]);
    const top = await check('list.yaml', '- a\n- b\n');
    expect(top.r.stderr).toContain(`${top.file}:1: the file must hold a mapping`);
  });

  it('ferry serve refuses a bad file with the same lines, and a bad variable by its name', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'ferry.yaml'), 'addr: 127.0.0.1:0\nmaxFileSize: [1]\n');
    const r = await runFerry(['serve', '--config', join(dir, 'ferry.yaml'), '--data', join(dir, 'data')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${join(dir, 'ferry.yaml')}:2: maxFileSize: must be a size like "10G", not a list`);
    const env = await runFerry(['serve', '--data', join(dir, 'data')], { env: { FERRY_RATE_LIMIT_IP: '-3' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('FERRY_RATE_LIMIT_IP: must be a whole number from 0');
  });

  it('a misspelt FERRY_ variable is warned about with the setting it is near; right ones and other programs\' are not', async () => {
    const dir = tmp();
    const r = await runFerry(['serve', '--data', join(dir, 'data')], { env: { FERRY_LOG_LEVL: 'debug', FERRY_MAX_FILESIZE: '1G', FERRY_LOG_LEVEL: 'info', FERRY_TOKEN: 'x', FERRY_S3_REGION: 'eu-west-1', FERRY_RATE_LIMIT_IP: '-3' } });
    expect(r.code).toBe(2); // the bad FERRY_RATE_LIMIT_IP: the warnings come first either way
    expect(r.stderr).toContain('ferry: warning: FERRY_LOG_LEVL is not a setting (did you mean FERRY_LOG_LEVEL?): ignored\n');
    expect(r.stderr).toContain('ferry: warning: FERRY_MAX_FILESIZE is not a setting (did you mean FERRY_MAX_FILE_SIZE?): ignored\n');
    expect(r.stderr.match(/warning/g)).toHaveLength(2);
    expect(misspeltVariables({ FERRY_CA: 'x', FERRY_SERVER: 'x', FERRY_DB: 'sqlite', FERRY_SFTP_ADDR: 'x', FERRY_FERRY_TOKEN: 'x', HOME: '/' })).toEqual([]);
    // Names other servers use, further than two letters off: FERRY_DATA_DIR was silently ignored, and ./ferry-data used.
    expect(misspeltVariables({ FERRY_DATA_DIR: '/srv/ferry', FERRY_PORT: '8080', FERRY_DATABASE_URL: 'postgres://x' })).toEqual([
      { name: 'FERRY_DATABASE_URL', meant: 'FERRY_DB' },
      { name: 'FERRY_DATA_DIR', meant: 'FERRY_DATA' },
      { name: 'FERRY_PORT', meant: 'FERRY_ADDR' },
    ]);
  });

  // docs/cluster.md: "A node on PostgreSQL refuses to start without it" (one session key for
  // every node, or a web session made by one node fails on the next). Refused before the
  // database is asked, so no PostgreSQL server is needed to see it.
  it('a node on PostgreSQL refuses to start without FERRY_SESSION_KEY (exit 2, saying why)', async () => {
    const dir = tmp();
    const r = await runFerry(['serve', '--data', join(dir, 'data'), '--db', 'postgres://ferry@127.0.0.1:1/ferry']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('give them all the same FERRY_SESSION_KEY');
    expect(r.stderr).not.toContain('cannot use the metadata database');
    // Nothing made in the data directory: not a session key of its own, which no node would use.
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('a database it cannot reach is named without a password, in the user part or the query', async () => {
    const dir = tmp();
    const url = 'postgres://ferry:pw-in-user@127.0.0.1:1/ferry?password=pw-in-query&application_name=x&sslpassword=pw-ssl';
    const r = await runFerry(['serve', '--data', join(dir, 'data'), '--db', url], { env: { FERRY_SESSION_KEY: Buffer.alloc(32, 7).toString('base64') } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot use the metadata database postgres://ferry:***@127.0.0.1:1/ferry?password=***&application_name=x&sslpassword=***:');
    expect(r.stdout + r.stderr).not.toMatch(/pw-in-|pw-ssl/);
  });
});

describe('ferry serve --config (a real process)', () => {
  let server: RunningServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('flag > environment > file, seen in the capabilities the server announces', async () => {
    const dir = tmp();
    const cfg = join(dir, 'ferry.toml');
    writeFileSync(cfg, 'maxFileSize = "1M"\nuploadTtl = "2h"\nmaxUploadSessions = 7\n');
    const caps = async (s: RunningServer) => ((await (await fetch(`${s.url}/api/v1/capabilities`)).json()) as { limits: { maxFileSize: number; uploadTtlSeconds: number } }).limits;
    const a = await startServer({ dataDir: join(dir, 'data'), extraArgs: ['--config', cfg] });
    expect(await caps(a)).toMatchObject({ maxFileSize: 1024 * 1024, uploadTtlSeconds: 7200 });
    await a.stop();
    const b = await startServer({ dataDir: join(dir, 'data'), extraArgs: ['--config', cfg], env: { FERRY_MAX_FILE_SIZE: '2M' } });
    expect(await caps(b)).toMatchObject({ maxFileSize: 2 * 1024 * 1024, uploadTtlSeconds: 7200 });
    await b.stop();
    const c = await startServer({ dataDir: join(dir, 'data'), extraArgs: ['--config', cfg, '--max-file-size', '3M', '--upload-ttl', '1h'], env: { FERRY_MAX_FILE_SIZE: '2M' } });
    expect(await caps(c)).toMatchObject({ maxFileSize: 3 * 1024 * 1024, uploadTtlSeconds: 3600 });
    await c.stop();
  });

  it("FERRY_SERVE_CONFIG names the server's file; FERRY_CONFIG (the client's config.json) is not read as settings", async () => {
    const dir = tmp();
    const cfg = join(dir, 'ferry.yaml');
    writeFileSync(cfg, 'maxFileSize: 1M\n');
    // A client config a shell may export for `ferry login`: not settings, and here not even there.
    const clientConfig = join(dir, 'client', 'config.json');
    const caps = async (s: RunningServer) => ((await (await fetch(`${s.url}/api/v1/capabilities`)).json()) as { limits: { maxFileSize: number } }).limits;
    const a = await startServer({ dataDir: join(dir, 'data'), env: { FERRY_SERVE_CONFIG: cfg, FERRY_CONFIG: clientConfig } });
    expect(await caps(a)).toMatchObject({ maxFileSize: 1024 * 1024 });
    await a.stop();
    writeFileSync(join(dir, 'client.json'), JSON.stringify({ server: 'http://127.0.0.1:1', token: 'x' }));
    const b = await startServer({ dataDir: join(dir, 'data'), env: { FERRY_CONFIG: join(dir, 'client.json') } });
    expect((await caps(b)).maxFileSize).not.toBe(1024 * 1024);
    await b.stop();
  });

  it('SIGHUP applies publicUrl, metricsToken, versions, trashDays, hooks and preUploadHook to the running server (README: "yes" under SIGHUP)', async () => {
    const dir = tmp();
    const cfg = join(dir, 'ferry.yaml');
    writeFileSync(cfg, 'trashDays: 0\n');
    const hookOut = join(dir, 'hook.out');
    writeFileSync(join(dir, 'hook.sh'), `#!/bin/sh\ncat >> '${hookOut}'\n`, { mode: 0o755 });
    writeFileSync(join(dir, 'scan.sh'), '#!/bin/sh\nif grep -q BAD; then echo "found BAD"; exit 1; fi\n', { mode: 0o755 });
    const metricsToken = randomBytes(24).toString('hex');
    const s = await startServer({ dataDir: join(dir, 'data'), extraArgs: ['--config', cfg] });
    try {
      await hupAppliesSettings(s, cfg, dir, hookOut, metricsToken);
    } finally {
      await s.stop();
    }
  });

  async function hupAppliesSettings(s: RunningServer, cfg: string, dir: string, hookOut: string, metricsToken: string): Promise<void> {
    const api = (path: string, init: RequestInit = {}) => fetch(`${s.url}${path}`, { ...init, headers: { authorization: `Bearer ${s.adminToken}`, ...(init.headers ?? {}) } });
    const put = (path: string, body: string) => api(`/api/v1/files${path}`, { method: 'PUT', body });
    const shareUrl = async () => ((await (await api('/api/v1/shares', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: '/a.txt' }) })).json()) as { url: string }).url;
    const versionsOf = async () => (await (await api('/api/v1/versions/a.txt')).json()) as { versions: unknown[]; policy: { enabled: boolean; keep: number } };
    const metrics = () => fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });

    // Before: none of them is set.
    expect((await put('/a.txt', 'one')).ok).toBe(true);
    expect((await put('/a.txt', 'two')).ok).toBe(true);
    expect(await shareUrl()).toMatch(new RegExp(`^${s.url}/s/`));
    expect((await versionsOf()).policy.enabled).toBe(false);
    expect((await metrics()).status).toBe(401);
    expect((await put('/bad-before.txt', 'BAD')).ok).toBe(true);

    writeFileSync(cfg, [
      'trashDays: 7',
      'versions: { keep: 5, days: 0 }',
      'publicUrl: https://files.example.com',
      `metricsToken: ${metricsToken}`,
      `hooks: [{ events: [delete], command: [${join(dir, 'hook.sh')}] }]`,
      `preUploadHook: { command: [${join(dir, 'scan.sh')}] }`,
      '',
    ].join('\n'));
    const before = s.output().length;
    s.process.kill('SIGHUP');
    for (let i = 0; i < 400 && !s.output().slice(before).includes('ferry: configuration reloaded'); i++) await new Promise((r) => setTimeout(r, 50));
    const said = s.output().slice(before);
    for (const key of ['publicUrl', 'metricsToken', 'versions', 'trashDays', 'hooks', 'preUploadHook']) expect(said).toMatch(new RegExp(`applied: [^;\\n]*\\b${key}\\b`));

    expect(await shareUrl()).toMatch(/^https:\/\/files\.example\.com\/s\//);
    expect((await metrics()).status).toBe(200);
    expect((await put('/a.txt', 'three')).ok).toBe(true);
    const v = await versionsOf();
    expect(v.policy).toMatchObject({ enabled: true, keep: 5 });
    expect(v.versions).toHaveLength(1);
    const rejected = await put('/bad-after.txt', 'BAD');
    expect(rejected.status).toBe(422);
    expect(((await rejected.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_UPLOAD_REJECTED');
    expect((await api('/api/v1/files/a.txt', { method: 'DELETE' })).status).toBe(204);
    const trash = (await (await api('/api/v1/trash')).json()) as { entries: { path: string }[] };
    expect(trash.entries.map((e) => e.path)).toEqual(['/a.txt']);
    for (let i = 0; i < 200 && !(existsSync(hookOut) && readFileSync(hookOut, 'utf8').includes('file.delete')); i++) await new Promise((r) => setTimeout(r, 50));
    expect(JSON.parse(readFileSync(hookOut, 'utf8'))).toMatchObject({ event: 'delete', path: '/a.txt' });
  }

  it('SIGHUP swaps the TLS certificate under a live connection, applies limits, and names what needs a restart', async () => {
    const dir = tmp();
    const ca = createCa();
    const certA = createServerCert(ca, ['127.0.0.1', 'localhost']);
    const certB = createServerCert(ca, ['127.0.0.1', 'localhost']);
    writeFileSync(join(dir, 'a.pem'), certA.certPem);
    writeFileSync(join(dir, 'a.key'), certA.keyPem);
    writeFileSync(join(dir, 'b.pem'), certB.certPem);
    writeFileSync(join(dir, 'b.key'), certB.keyPem);
    const cfg = join(dir, 'ferry.yaml');
    const write = (cert: string, extra: string) => writeFileSync(cfg, `tlsCert: ${join(dir, cert)}.pem\ntlsKey: ${join(dir, cert)}.key\n${extra}`);
    write('a', 'maxFileSize: 1M\n');
    server = await startServer({ dataDir: join(dir, 'data'), extraArgs: ['--config', cfg] });
    const fp = (pem: string) => createHash('sha256').update(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')).digest('hex');
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem });
    const get = (path: string, a: Agent) =>
      new Promise<{ status: number; body: string; socket: TLSSocket; fingerprint: string }>((resolve, reject) => {
        const req = httpsRequest(`${server!.url}${path}`, { agent: a, ca: ca.certPem }, (res) => {
          let body = '';
          // Taken now: at 'end' the socket is already back in the agent's pool.
          const socket = res.socket as TLSSocket;
          const fingerprint = (socket.getPeerX509Certificate()?.fingerprint256 ?? 'none').replace(/:/g, '').toLowerCase();
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body, socket, fingerprint }));
        });
        req.on('error', reject);
        req.end();
      });
    const first = await get('/api/v1/capabilities', agent);
    expect(first.fingerprint).toBe(fp(certA.certPem));
    expect(JSON.parse(first.body).limits.maxFileSize).toBe(1024 * 1024);

    write('b', 'maxFileSize: 5M\nlogLevel: debug\ngcInterval: 5m\n');
    const before = server.output().length;
    server.process.kill('SIGHUP');
    // (The stderr line, written after the JSON log line that says the same.)
    for (let i = 0; i < 400 && !server.output().slice(before).includes('ferry: configuration reloaded'); i++) await new Promise((r) => setTimeout(r, 50));
    const said = server.output().slice(before);
    expect(said).toContain('configuration reloaded; applied: logLevel, tlsCert, tlsKey, maxFileSize; changed but need a restart: gcInterval');

    // The open connection carries on with the certificate it has; the limit is the new one.
    const again = await get('/api/v1/capabilities', agent);
    // (The same TLS socket: its certificate was fixed by its handshake, before the reload.)
    expect(again.socket).toBe(first.socket);
    expect(again.status).toBe(200);
    expect(JSON.parse(again.body).limits.maxFileSize).toBe(5 * 1024 * 1024);
    // A new connection gets the new certificate.
    const fresh = new Agent({ keepAlive: false, maxCachedSessions: 0, ca: ca.certPem });
    const next = await get('/healthz', fresh);
    expect(next.status).toBe(200);
    expect(next.fingerprint).toBe(fp(certB.certPem));

    // A certificate renewed in place (the same file names, as certbot does) is read again.
    const certC = createServerCert(ca, ['127.0.0.1', 'localhost']);
    writeFileSync(join(dir, 'b.pem'), certC.certPem);
    writeFileSync(join(dir, 'b.key'), certC.keyPem);
    const renewal = server.output().length;
    server.process.kill('SIGHUP');
    for (let i = 0; i < 400 && !server.output().slice(renewal).includes('ferry: configuration reloaded'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(server.output().slice(renewal)).toContain('configuration reloaded; applied: nothing; changed but need a restart: gcInterval; new TLS certificate SHA256:');
    expect((await get('/healthz', fresh)).fingerprint).toBe(fp(certC.certPem));

    // A broken file changes nothing and says so.
    writeFileSync(cfg, 'tlsCert: 5\n');
    const mark = server.output().length;
    server.process.kill('SIGHUP');
    for (let i = 0; i < 400 && !server.output().slice(mark).includes('ferry: reload failed'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(server.output().slice(mark)).toContain(`${cfg}:1: tlsCert: must be a string, not number 5`);
    const still = await get('/healthz', fresh);
    expect(still.fingerprint).toBe(fp(certC.certPem));
    agent.destroy();
    fresh.destroy();
  });
});
