/** Every command of the CLI, in the order `ferry --help` lists them. One module each. */
import type { Command } from 'commander';
import { registerBisync } from './bisync.js';
import { registerCheck } from './check.js';
import { registerCopy } from './copy.js';
import { registerMove } from './move.js';
import { registerServe } from './serve.js';
import { registerSync } from './sync.js';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [registerServe, registerSync, registerCopy, registerMove, registerCheck, registerBisync];
