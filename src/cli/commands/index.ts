/** Every command of the CLI, in the order `ferry --help` lists them. One module each. */
import type { Command } from 'commander';
import { registerRemote } from './remote.js';
import { registerServe } from './serve.js';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [registerServe, registerRemote];
