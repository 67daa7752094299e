import type { Command } from 'commander';
import { NotImplementedError } from '../../core/errors.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the Ferry server (embedded defaults: 127.0.0.1:7373, data in ./ferry-data)')
    .option('--addr <host:port>', 'address to listen on', '127.0.0.1:7373')
    .option('--data <dir>', 'data directory', './ferry-data')
    .action(async () => {
      throw new NotImplementedError('the server is not built yet');
    });
}
