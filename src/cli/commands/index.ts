/**
 * Every command of the CLI, in the order `ferry --help` lists them: the names each module
 * registers (with aliases) and how to get its registration.
 *
 * Start-up rule: a run registers only the command it names (main.ts reads the name from
 * argv and asks {@link commandFor}); every command is registered only for the program's own
 * help, an unknown name and `ferry completion`. Command modules are light: commander and
 * small core modules at the top, their engine (server, SDK, sync engine, progress bars)
 * with `await import()` inside the action. They sit in the CLI's entry (one file to load, not
 * one each: Node 20 pays for every ES module file), except the two whose definitions need a
 * large table, loaded by name: `serve` (a flag per server setting) and `remote` (the remote
 * types' registry). test/cli/startup.test.ts and client-startup.test.ts enforce it.
 */
import type { Command } from 'commander';
import { registerBisync } from './bisync.js';
import { registerCheck } from './check.js';
import { registerCopy } from './copy.js';
import { registerMove } from './move.js';
import { registerSync } from './sync.js';
import { registerLogin } from './login.js';
import { registerWhoami } from './whoami.js';
import { registerLogout } from './logout.js';
import { registerPut } from './put.js';
import { registerGet } from './get.js';
import { registerLs } from './ls.js';
import { registerStat } from './stat.js';
import { registerCat } from './cat.js';
import { registerSize } from './size.js';
import { registerMv } from './mv.js';
import { registerCp } from './cp.js';
import { registerRm } from './rm.js';
import { registerMkdir } from './mkdir.js';
import { registerShare } from './share.js';
import { registerQuota } from './quota.js';
import { registerToken } from './token.js';
import { registerUser } from './user.js';
import { registerAdmin } from './admin.js';
import { registerAdminServer } from './admin-server.js';
import { registerCompletion } from './completion.js';
import { registerConfig } from './config.js';
import { registerVersions } from './versions.js';

export type RegisterCommand = (program: Command) => void;

export interface CommandEntry {
  /** The top-level names the module registers, aliases included. */
  names: readonly string[];
  /** Registering it needs every other command registered first (completion lists them all). */
  needsAll?: boolean;
  load: () => Promise<RegisterCommand[]>;
}

export const COMMAND_TABLE: readonly CommandEntry[] = [
  { names: ['serve'], load: async () => [(await import('./serve.js')).registerServe] },
  { names: ['config'], load: async () => [registerConfig] },
  { names: ['login'], load: async () => [registerLogin] },
  { names: ['whoami'], load: async () => [registerWhoami] },
  { names: ['logout'], load: async () => [registerLogout] },
  { names: ['put'], load: async () => [registerPut] },
  { names: ['get'], load: async () => [registerGet] },
  { names: ['ls'], load: async () => [registerLs] },
  { names: ['stat'], load: async () => [registerStat] },
  { names: ['cat'], load: async () => [registerCat] },
  { names: ['size', 'du'], load: async () => [registerSize] },
  { names: ['mkdir'], load: async () => [registerMkdir] },
  { names: ['mv'], load: async () => [registerMv] },
  { names: ['cp'], load: async () => [registerCp] },
  { names: ['rm'], load: async () => [registerRm] },
  { names: ['versions', 'restore', 'trash'], load: async () => [registerVersions] },
  { names: ['sync'], load: async () => [registerSync] },
  { names: ['copy'], load: async () => [registerCopy] },
  { names: ['move'], load: async () => [registerMove] },
  { names: ['check'], load: async () => [registerCheck] },
  { names: ['bisync'], load: async () => [registerBisync] },
  { names: ['share'], load: async () => [registerShare] },
  { names: ['quota'], load: async () => [registerQuota] },
  { names: ['token'], load: async () => [registerToken] },
  { names: ['user'], load: async () => [registerUser] },
  // admin-server.ts adds its subcommands to the group admin.ts registers.
  { names: ['admin'], load: async () => [registerAdmin, registerAdminServer] },
  { names: ['remote'], load: async () => [(await import('./remote.js')).registerRemote] },
  { names: ['completion'], needsAll: true, load: async () => [registerCompletion] },
];

/** The entry that registers the top-level command `name`, if any. */
export function commandFor(name: string): CommandEntry | undefined {
  return COMMAND_TABLE.find((e) => e.names.includes(name));
}

/** Every command's registration, in the table's order. */
export async function allCommands(): Promise<RegisterCommand[]> {
  return (await Promise.all(COMMAND_TABLE.map((e) => e.load()))).flat();
}
