/** `ferry move SRC DST`: copy, then remove each verified source file. See sync.ts for the shared body. */
import { transferCommand } from './sync.js';

export const registerMove = transferCommand('move');
