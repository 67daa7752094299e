import type { Command } from 'commander';
import { configPath, normalizeServerUrl, writeConfigFile } from '../../client/config.js';
import { UsageError } from '../../core/errors.js';
import { printJson } from '../options.js';

async function readStdinLine(): Promise<string> {
  let text = '';
  for await (const piece of process.stdin) {
    text += piece.toString();
    if (text.includes('\n')) break;
  }
  return text.split('\n')[0].trim();
}

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('check a server and a token, then save them to the config file (mode 0600)')
    .argument('<url>', 'server URL, e.g. http://127.0.0.1:7373')
    .option('--token <token>', 'access token; `-` reads it from stdin (default: FERRY_TOKEN)')
    .option('--json', 'print {server, config} on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .addHelpText(
      'after',
      `
The config file is $FERRY_CONFIG, else $XDG_CONFIG_HOME/ferry/config.json, else
~/.config/ferry/config.json. FERRY_SERVER and FERRY_TOKEN override it.

Examples:
  $ ferry login http://nas.local:7373 --token "$TOKEN"
  $ pass show ferry | ferry login https://files.example.com --token -`,
    )
    .action(async (url: string, opts: { token?: string; json?: boolean; quiet?: boolean }) => {
      const server = normalizeServerUrl(url);
      let token = opts.token ?? process.env.FERRY_TOKEN;
      if (token === '-') token = await readStdinLine();
      if (!token) throw new UsageError('give a token with --token T (or --token - to read it from stdin)');
      const { FerryClient } = await import('../../client/client.js');
      const client = new FerryClient({ server, token, tokenSource: '--token', retry: { retries: 2, baseMs: 200, capMs: 2000, maxRetryAfterMs: 5000 } });
      try {
        const caps = await client.capabilities();
        await client.stat('/'); // proves the token is accepted
        const file = configPath();
        await writeConfigFile(file, { server, token });
        if (opts.json) printJson({ server, version: caps.version, config: file });
        else if (!opts.quiet) process.stderr.write(`logged in to ${server} (ferry ${caps.version}); saved to ${file}\n`);
      } finally {
        await client.close();
      }
    });
}
