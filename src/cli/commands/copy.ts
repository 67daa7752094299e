/** `ferry copy SRC DST`: copy new and changed files; never deletes. See sync.ts for the shared body. */
import { transferCommand } from './sync.js';

export const registerCopy = transferCommand('copy');
