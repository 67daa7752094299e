/** The channel backend and its registry entry: `channel:name` (shared within the process) or `channel:` (private). */
import { ConfigError } from '../../core/errors.js';
import type { BackendDefinition } from '../definition.js';
import { ChannelBackend } from './channel-backend.js';

export { ChannelBackend, type ChannelBackendOptions } from './channel-backend.js';

const NAME = /^[A-Za-z0-9._-]*$/;

export const channelBackendDefinition: BackendDefinition = {
  type: 'channel',
  description: 'in-process streams from a writer to the readers waiting on a key; keeps nothing',
  options: [
    { name: 'name', type: 'string', default: '', description: 'channel set shared within the process; empty: a private one' },
    { name: 'highWaterMark', type: 'number', default: 1024 * 1024, description: 'bytes a reader buffers before the writer waits for it' },
  ],
  parseSpec(rest) {
    if (!NAME.test(rest)) throw new ConfigError(`channel:${rest}: a channel set name is letters, digits, '.', '_' or '-'`);
    return { name: rest };
  },
  factory: (options) => new ChannelBackend({ name: options.name as string, highWaterMark: options.highWaterMark as number }),
};
