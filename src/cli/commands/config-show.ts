/**
 * `ferry config show`: what the client is configured with (saved servers, named remotes, the
 * files and the environment variables in effect), secrets masked as `***`: a token, a
 * remote's secret options and FERRY_TOKEN/FERRY_CONFIG_PASS are never printed.
 */
import type { Command } from 'commander';
import { printJson } from '../options.js';

const MASK = '***';

/** The environment variables the client reads, and whether each is a secret. */
const ENV_VARS: Array<[string, boolean]> = [
  ['FERRY_SERVER', false],
  ['FERRY_TOKEN', true],
  ['FERRY_CA', false],
  ['FERRY_FINGERPRINT', false],
  ['FERRY_CONFIG', false],
  ['FERRY_CONFIG_DIR', false],
  ['FERRY_CONFIG_PASS', true],
];

export interface ConfigShow {
  config: { file: string; encrypted: boolean };
  remotesFile: { file: string; encrypted: boolean };
  servers: Array<{ name: string; server: string; token: string | null; ca: string | null; fingerprint: string | null; default: boolean }>;
  remotes: Record<string, { type: string; options: Record<string, unknown> }>;
  environment: Record<string, string>;
}

/** Everything `ferry config show` prints, masked. */
export async function configShow(): Promise<ConfigShow> {
  const { configPath, readConfigFile, savedServers, DEFAULT_SERVER_NAME } = await import('../../client/config.js');
  const { readRemotes, remotesPath } = await import('../../backends/remotes.js');
  const { redactOptions } = await import('../../remotes/index.js');
  const { isSealedFile } = await import('../../core/private-file.js');
  const file = configPath();
  const rfile = remotesPath();
  const servers = savedServers(await readConfigFile(file)).map((s) => ({
    name: s.name,
    server: s.server,
    token: s.token === undefined ? null : MASK,
    ca: s.ca ?? null,
    fingerprint: s.fingerprint ?? null,
    default: s.name === DEFAULT_SERVER_NAME,
  }));
  const remotes = Object.fromEntries(Object.entries(await readRemotes(rfile)).map(([name, r]) => [name, { type: r.type, options: redactOptions(r.type, r.options) }]));
  const environment: Record<string, string> = {};
  for (const [name, secret] of ENV_VARS) if (process.env[name]) environment[name] = secret ? MASK : process.env[name]!;
  const sealed = async (f: string) => isSealedFile(f).catch(() => false);
  return { config: { file, encrypted: await sealed(file) }, remotesFile: { file: rfile, encrypted: await sealed(rfile) }, servers, remotes, environment };
}

function formatShow(c: ConfigShow): string {
  const lines: string[] = [`config file:  ${c.config.file}${c.config.encrypted ? ' (encrypted)' : ''}`, `remotes file: ${c.remotesFile.file}${c.remotesFile.encrypted ? ' (encrypted)' : ''}`, '', 'servers:'];
  if (c.servers.length === 0) lines.push('  none (ferry login URL saves one)');
  for (const s of c.servers) {
    const extra = [s.token ? `token ${s.token}` : 'no token', s.ca ? `ca ${s.ca}` : '', s.fingerprint ? `fingerprint ${s.fingerprint}` : ''].filter(Boolean).join(', ');
    lines.push(`  ${s.name}:${s.default ? ' (default)' : ''} ${s.server} (${extra})`);
  }
  lines.push('', 'remotes:');
  if (Object.keys(c.remotes).length === 0) lines.push('  none (ferry remote add or ferry remote import)');
  for (const [name, r] of Object.entries(c.remotes)) {
    const options = Object.entries(r.options).map(([k, v]) => `${k}=${String(v)}`).join(' ');
    lines.push(`  ${name}: ${r.type}${options ? ' ' + options : ''}`);
  }
  lines.push('', 'environment:');
  if (Object.keys(c.environment).length === 0) lines.push('  none of FERRY_SERVER, FERRY_TOKEN, FERRY_CA, FERRY_FINGERPRINT, FERRY_CONFIG, FERRY_CONFIG_DIR, FERRY_CONFIG_PASS');
  for (const [k, v] of Object.entries(c.environment)) lines.push(`  ${k}=${v}`);
  return lines.join('\n') + '\n';
}

export function registerConfigShow(config: Command): void {
  config
    .command('show')
    .description("the client's configuration: saved servers, named remotes, files and environment (secrets shown as ***)")
    .option('--json', 'one JSON object: {config, remotesFile, servers, remotes, environment}')
    .addHelpText('after', '\nExamples:\n  $ ferry config show\n  $ ferry config show --json | jq .servers')
    .action(async (opts: { json?: boolean }) => {
      const shown = await configShow();
      if (opts.json) printJson(shown);
      else process.stdout.write(formatShow(shown));
    });
}
