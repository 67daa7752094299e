/** The memory backend and its registry entry: `memory:name` (shared within the process) or `memory:` (private). */
import { ConfigError } from '../../core/errors.js';
import type { BackendDefinition } from '../definition.js';
import { MemoryBackend } from './memory-backend.js';

export { MemoryBackend, type MemoryBackendOptions } from './memory-backend.js';

/** Plain names only: `memory:name/sub/path` is kept free for a path inside the store once remotes take sub-paths. */
const NAME = /^[A-Za-z0-9._-]*$/;

export const memoryBackendDefinition: BackendDefinition = {
  type: 'memory',
  description: 'objects in this process’s memory (tests, scratch space); the same name shares one store',
  options: [
    { name: 'name', type: 'string', default: '', description: 'store name shared within the process; empty: a private store' },
    {
      name: 'directories',
      type: 'string',
      choices: ['virtual', 'real'],
      // No schema default: `memory:x` must join a store created with either kind.
      description:
        "'virtual' (default for a new store): directories implied by keys, as on S3; 'real': mkdir/rmdir and empty directories, as on disk",
    },
  ],
  parseSpec(rest) {
    if (!NAME.test(rest)) throw new ConfigError(`memory:${rest}: a memory store name is letters, digits, '.', '_' or '-'`);
    return { name: rest };
  },
  factory: (options) =>
    new MemoryBackend({ name: options.name as string, directories: options.directories as 'virtual' | 'real' | undefined }),
};
