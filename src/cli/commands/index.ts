/**
 * Every command of the CLI, in the order `ferry --help` lists them. One module each.
 *
 * Start-up rule: a command module imports commander and light core modules at the top and
 * its engine (server, SDK, sync engine, progress bars) with `await import()` inside its
 * action, so that `ferry --help` or a quick `ferry ls` does not load every engine.
 * test/cli/startup.test.ts enforces it.
 */
import type { Command } from 'commander';
import { registerBisync } from './bisync.js';
import { registerCheck } from './check.js';
import { registerCopy } from './copy.js';
import { registerMove } from './move.js';
import { registerRemote } from './remote.js';
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
import { registerShare } from './share.js';
import { registerQuota } from './quota.js';
import { registerToken } from './token.js';
import { registerUser } from './user.js';
import { registerAdmin } from './admin.js';
import { registerConfig } from './config.js';
import { registerVersions } from './versions.js';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [
  registerServe,
  registerConfig,
  registerLogin,
  registerPut,
  registerGet,
  registerLs,
  registerStat,
  registerMkdir,
  registerMv,
  registerCp,
  registerRm,
  registerVersions,
  registerSync,
  registerCopy,
  registerMove,
  registerCheck,
  registerBisync,
  registerShare,
  registerQuota,
  registerToken,
  registerUser,
  registerAdmin,
  registerRemote,
];
