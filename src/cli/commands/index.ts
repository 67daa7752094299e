/**
 * Every command of the CLI, in the order `ferry --help` lists them: the names each module
 * registers (with aliases) and a loader for that module.
 *
 * Start-up rule: a run of one command loads only that command's module (main.ts reads the
 * command's name from argv and asks {@link commandFor}); the full list is loaded only for
 * the program's own help, an unknown name and `ferry completion`. A command module imports
 * commander and light core modules at the top and its engine (server, SDK, sync engine,
 * progress bars) with `await import()` inside its action, so that `ferry ls --help` or a
 * quick `ferry ls` does not load every engine. test/cli/startup.test.ts enforces both.
 */
import type { Command } from 'commander';

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
  { names: ['config'], load: async () => [(await import('./config.js')).registerConfig] },
  { names: ['login'], load: async () => [(await import('./login.js')).registerLogin] },
  { names: ['whoami'], load: async () => [(await import('./whoami.js')).registerWhoami] },
  { names: ['logout'], load: async () => [(await import('./whoami.js')).registerLogout] },
  { names: ['put'], load: async () => [(await import('./put.js')).registerPut] },
  { names: ['get'], load: async () => [(await import('./get.js')).registerGet] },
  { names: ['ls'], load: async () => [(await import('./ls.js')).registerLs] },
  { names: ['stat'], load: async () => [(await import('./stat.js')).registerStat] },
  { names: ['cat'], load: async () => [(await import('./cat.js')).registerCat] },
  { names: ['size', 'du'], load: async () => [(await import('./size.js')).registerSize] },
  { names: ['mkdir'], load: async () => [(await import('./mkdir.js')).registerMkdir] },
  { names: ['mv'], load: async () => [(await import('./mv.js')).registerMv] },
  { names: ['cp'], load: async () => [(await import('./cp.js')).registerCp] },
  { names: ['rm'], load: async () => [(await import('./rm.js')).registerRm] },
  { names: ['versions', 'restore', 'trash'], load: async () => [(await import('./versions.js')).registerVersions] },
  { names: ['sync'], load: async () => [(await import('./sync.js')).registerSync] },
  { names: ['copy'], load: async () => [(await import('./copy.js')).registerCopy] },
  { names: ['move'], load: async () => [(await import('./move.js')).registerMove] },
  { names: ['check'], load: async () => [(await import('./check.js')).registerCheck] },
  { names: ['bisync'], load: async () => [(await import('./bisync.js')).registerBisync] },
  { names: ['share'], load: async () => [(await import('./share.js')).registerShare] },
  { names: ['quota'], load: async () => [(await import('./quota.js')).registerQuota] },
  { names: ['token'], load: async () => [(await import('./token.js')).registerToken] },
  { names: ['user'], load: async () => [(await import('./user.js')).registerUser] },
  // admin-server.ts adds its subcommands to the group admin.ts registers.
  { names: ['admin'], load: async () => [(await import('./admin.js')).registerAdmin, (await import('./admin-server.js')).registerAdminServer] },
  { names: ['remote'], load: async () => [(await import('./remote.js')).registerRemote] },
  { names: ['completion'], needsAll: true, load: async () => [(await import('./completion.js')).registerCompletion] },
];

/** The entry that registers the top-level command `name`, if any. */
export function commandFor(name: string): CommandEntry | undefined {
  return COMMAND_TABLE.find((e) => e.names.includes(name));
}

/** Every command's registration, in the table's order. */
export async function allCommands(): Promise<RegisterCommand[]> {
  return (await Promise.all(COMMAND_TABLE.map((e) => e.load()))).flat();
}
