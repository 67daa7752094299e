/**
 * What a backend type declares about itself for the registry: its name, its options (typed,
 * documented, secret or not) and how to build one. A leaf module: backends import it to
 * describe themselves without importing the registry (which the composition root,
 * src/remotes/, fills with every type).
 */
import type { StorageBackend } from '../core/storage.js';

export type OptionType = 'string' | 'number' | 'boolean';
export type OptionValue = string | number | boolean;
export type BackendOptions = Record<string, OptionValue>;

/** One option a backend type accepts: how it is typed, documented and whether it is a secret. */
export interface BackendOptionSpec {
  name: string;
  type: OptionType;
  description: string;
  /** Never logged or echoed: the registry's redaction replaces it with `***`. */
  secret?: boolean;
  required?: boolean;
  default?: OptionValue;
  /** For strings: the only values allowed. */
  choices?: readonly string[];
}

export interface BackendDefinition {
  /** The name used in remote strings and configuration: `local`, `memory`, `s3`. */
  type: string;
  description: string;
  options: readonly BackendOptionSpec[];
  /** Turns what follows `type:` in a remote string into options. Absent: the type is configured, not typed. */
  parseSpec?(rest: string): BackendOptions;
  /**
   * Options for `sub` (a normalized key) inside the place `options` name: `name:sub/dir` of a
   * named remote. `absolute`: the path was written with a leading `/` (`nas:/srv/x`); types
   * with a file-system root (SFTP) take it from the server's root then, as rclone does.
   */
  subPath?(options: BackendOptions, sub: string, absolute: boolean): BackendOptions;
  /**
   * The options of the folder holding what `options` point at, and that thing's name
   * (`/a/b/file` -> `/a/b` and `file`); undefined at the top. For a source that names a
   * file rather than a folder (`ferry copy report.pdf nas:/docs/`).
   */
  parentOf?(options: BackendOptions): { options: BackendOptions; name: string } | undefined;
  /**
   * Builds a backend from options already checked against `options` (defaults applied);
   * `origin`: where a named remote's options came from (see {@link NamedRemote.origin}).
   */
  factory(options: BackendOptions, origin?: string): StorageBackend | Promise<StorageBackend>;
}

/** What a remote string means: which type, with which options. */
export interface RemoteSpec {
  type: string;
  options: BackendOptions;
  /** The named remote's {@link NamedRemote.origin}, when the string named one. */
  origin?: string;
}

/** A configured remote (`ferry remote add NAME TYPE key=value…`). */
export interface NamedRemote {
  type: string;
  options: BackendOptions;
  /**
   * Where it was configured, for messages that must name it (a refused token's fix):
   * `remote:NAME` (`ferry remote add`) or `login:NAME` (`ferry login URL --name NAME`).
   */
  origin?: string;
}

/** What resolving a remote may look at besides the string. */
export interface RemoteContext {
  /** Configured remotes by name (see ./remotes.ts). */
  remotes?: Readonly<Record<string, NamedRemote>>;
  /** Where `FERRY_<TYPE>_<OPTION>` variables are read (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Whose drive letters apply (default process.platform): on Windows `C:/dir` is a drive; elsewhere a one-letter `a:` is a remote name that cannot exist (names have two
   * characters), so it is an error, never a local folder named `a:`. `C:\dir` is local on all.
   */
  platform?: NodeJS.Platform;
}
