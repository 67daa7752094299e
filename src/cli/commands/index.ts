/** Every command of the CLI, in the order `ferry --help` lists them. One module each. */
import type { Command } from 'commander';
import { registerBisync } from './bisync.js';
import { registerCheck } from './check.js';
import { registerCopy } from './copy.js';
import { registerMove } from './move.js';
import { registerServe } from './serve.js';
import { registerSync } from './sync.js';
import { registerLogin } from './login.js';
import { registerPut } from './put.js';
import { registerGet } from './get.js';
import { registerLs } from './ls.js';
import { registerStat } from './stat.js';
import { registerMv } from './mv.js';
import { registerCp } from './cp.js';
import { registerRm } from './rm.js';
import { registerMkdir } from './mkdir.js';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [
  registerServe,
  registerLogin,
  registerPut,
  registerGet,
  registerLs,
  registerStat,
  registerMkdir,
  registerMv,
  registerCp,
  registerRm,
  registerSync,
  registerCopy,
  registerMove,
  registerCheck,
  registerBisync,
];
