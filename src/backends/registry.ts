/**
 * The backend registry: a backend type name -> its factory and option schema, and the one
 * place that turns what a person types (`./photos`, `memory:test`, `s3:bucket/prefix`) into a
 * StorageBackend. Backends describe themselves with a {@link BackendDefinition}
 * (./definition.ts); nothing here switches over type names or lists them: the composition
 * root (src/remotes/) builds the registry of every type, `ferry` included.
 *
 * Remote strings follow rclone's habits:
 * - a path (`/abs/dir`, `./dir`, `../dir`, `~/dir`, `dir`) is a local directory;
 * - `type:rest` names a backend type and hands `rest` to that type's parser
 *   (`memory:name`, `local:/dir`, `s3:bucket/prefix`, `sftp://user@host:port/path`,
 *   `channel:name`, `ferry:/path`). A local path that contains a colon before any slash
 *   is written `./a:b`;
 * - `name:path` names a configured remote (`ferry remote add`, see ./remotes.ts) and a path
 *   inside it;
 * - a typed string may end with options, `?key=value&key=value` (percent-encoded), for what
 *   the short form cannot say: `s3:bucket/x?endpoint=http://127.0.0.1:9000&region=eu-west-1`.
 *
 * Options are taken, strongest first, from the remote string, from the environment
 * (`FERRY_<TYPE>_<OPTION>`, as rclone's `RCLONE_S3_…`: `FERRY_S3_SECRET_ACCESS_KEY`), from the
 * named remote's configuration, and then from the backend's own defaults (for S3: the AWS_*
 * variables the SDK reads).
 *
 * Remote strings and options may carry secrets (passwords in URLs, keys in options): only
 * {@link redactRemote} / {@link redactOptions} forms may reach logs and error messages.
 */
import { ConfigError } from '../core/errors.js';
import type { StorageBackend } from '../core/storage.js';
import { normalizeKey } from '../core/path.js';
import type { BackendDefinition, BackendOptions, BackendOptionSpec, OptionValue, RemoteContext, RemoteSpec } from './definition.js';

export type { BackendDefinition, BackendOptions, BackendOptionSpec, NamedRemote, OptionType, OptionValue, RemoteContext, RemoteSpec } from './definition.js';

/** `secretAccessKey` -> `FERRY_S3_SECRET_ACCESS_KEY`. */
export function envName(type: string, option: string): string {
  return `FERRY_${type}_${option.replace(/([a-z0-9])([A-Z])/g, '$1_$2')}`.replace(/-/g, '_').toUpperCase();
}

/** Names a person may give a remote: two or more letters, digits, `_`, `.`, `-`, starting with a letter or digit. */
export const REMOTE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]+$/;

const TYPE_NAME = /^[a-z][a-z0-9-]*$/;
/** `type:rest`; a single letter is not a type but a drive (`C:\dir`), left to the local branch. */
const TYPED_SPEC = /^([A-Za-z][A-Za-z0-9+.-]+):(.*)$/s;
/** Option names that look secret even when no schema says so (unknown types, URL query strings). */
const SECRET_NAME = /pass|secret|token|credential|auth|private|^key|key(_?id)?$|[_-]key[_-]/i;
const REDACTED = '***';

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function coerce(type: string, spec: BackendOptionSpec, value: unknown): OptionValue {
  const fail = (): never => {
    const shown = spec.secret ? REDACTED : JSON.stringify(value);
    throw new ConfigError(`${type}: option ${spec.name} must be a ${spec.type}, not ${shown}`, { details: { type, option: spec.name } });
  };
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') fail();
      if (spec.choices && !spec.choices.includes(value as string)) {
        throw new ConfigError(`${type}: option ${spec.name} must be one of ${spec.choices.join(', ')}, not ${JSON.stringify(value)}`, {
          details: { type, option: spec.name },
        });
      }
      return value as string;
    case 'number': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) fail();
      return n as number;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      const text = typeof value === 'string' ? value.toLowerCase() : value;
      if (text === 'true' || text === '1' || text === 'yes' || text === 1) return true;
      if (text === 'false' || text === '0' || text === 'no' || text === 0) return false;
      return fail();
    }
  }
}

/**
 * `a:/x` on a system without drive letters: what was meant is a remote `a` (there is none: a
 * name has two characters at least) or a local folder `a:` (written `./a:/x`); guessing the
 * folder put files where nobody looked, so neither is guessed. A backslash (`C:\\dir`) is a
 * Windows path pasted as such, local everywhere.
 */
export function refuseLetterColon(spec: string, context: RemoteContext, shown = spec): void {
  const letter = /^([A-Za-z]):(?![\\])/.exec(spec);
  if (letter === null || (context.platform ?? process.platform) === 'win32') return;
  throw new ConfigError(`no remote named ${letter[1]}; \`ferry remote ls\` lists them, or write ./${shown} for a local folder`, {
    details: { remote: letter[1] },
  });
}

export class BackendRegistry {
  readonly #types = new Map<string, BackendDefinition>();

  constructor(definitions: Iterable<BackendDefinition> = []) {
    for (const d of definitions) this.register(d);
  }

  /** Adds a backend type. A name may be registered once. */
  register(definition: BackendDefinition): this {
    if (!TYPE_NAME.test(definition.type)) throw new ConfigError(`backend type names are lowercase words: ${JSON.stringify(definition.type)}`);
    if (this.#types.has(definition.type)) throw new ConfigError(`backend type ${definition.type} is already registered`);
    this.#types.set(definition.type, definition);
    return this;
  }

  get(type: string): BackendDefinition | undefined {
    return this.#types.get(type);
  }

  /** The registered types, for help texts and configuration UIs. */
  types(): BackendDefinition[] {
    return [...this.#types.values()];
  }

  /** The definition of `type`, or FERRY_ERR_CONFIG (unknown). */
  #require(type: string): BackendDefinition {
    const definition = this.#types.get(type);
    if (definition !== undefined) return definition;
    throw new ConfigError(`unknown backend type ${JSON.stringify(type)}; known: ${[...this.#types.keys()].join(', ')}`, {
      details: { type },
    });
  }

  /**
   * What a person typed -> `{type, options}` (see the module comment for the syntax). Options
   * are as the type's parser produced them; {@link open} checks them against the schema.
   */
  parseRemote(spec: string, context: RemoteContext = {}): RemoteSpec {
    if (typeof spec !== 'string' || spec === '') throw new ConfigError('a remote must be a non-empty string (a path or type:...)');
    refuseLetterColon(spec, context, this.redactRemote(spec));
    const typed = TYPED_SPEC.exec(spec);
    if (typed === null || /^[./~]/.test(spec)) return { type: 'local', options: this.#require('local').parseSpec!(spec) };
    const type = typed[1].toLowerCase();
    const query = typed[2].indexOf('?');
    const rest = query === -1 ? typed[2] : typed[2].slice(0, query);
    const extra = query === -1 ? {} : this.#parseQuery(typed[2].slice(query + 1));
    const definition = this.#types.get(type);
    const named = definition === undefined ? context.remotes?.[typed[1]] : undefined;
    if (named !== undefined) {
      const target = this.#require(named.type);
      const sub = normalizeKey(rest);
      let options: BackendOptions = { ...named.options };
      if (sub !== '') {
        if (target.subPath === undefined) throw new ConfigError(`${typed[1]}: a ${named.type} remote has no paths inside it`);
        options = target.subPath(options, sub, rest.startsWith('/'));
      }
      return { type: named.type, options: { ...options, ...extra }, ...(named.origin ? { origin: named.origin } : {}) };
    }
    if (definition === undefined) {
      throw new ConfigError(
        `unknown remote type ${JSON.stringify(type)} in ${JSON.stringify(this.redactRemote(spec))}; ` +
          `known: ${[...this.#types.keys()].join(', ')} (a local path with a colon is written ./${this.redactRemote(spec)})`,
        { details: { type } },
      );
    }
    const found = this.#require(type);
    if (found.parseSpec === undefined) throw new ConfigError(`the ${type} backend is configured with options, not typed as ${type}:...`);
    return { type, options: { ...found.parseSpec(rest), ...extra } };
  }

  /** The folder holding what `remote` points at, and its name there (see BackendDefinition.parentOf). */
  parentOf(remote: RemoteSpec): { remote: RemoteSpec; name: string } | undefined {
    const found = this.#require(remote.type).parentOf?.(remote.options);
    return found === undefined ? undefined : { remote: { type: remote.type, options: found.options, ...(remote.origin ? { origin: remote.origin } : {}) }, name: found.name };
  }

  /** `a=1&b=x%20y` -> options (values stay strings: the schema coerces them). */
  #parseQuery(text: string): BackendOptions {
    const out: BackendOptions = {};
    for (const part of text.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const name = safeDecode(eq === -1 ? part : part.slice(0, eq));
      out[name] = eq === -1 ? 'true' : safeDecode(part.slice(eq + 1));
    }
    return out;
  }

  /** Options of `type` set in the environment as `FERRY_<TYPE>_<OPTION>`. */
  envOptions(type: string, env: Readonly<Record<string, string | undefined>> = process.env): BackendOptions {
    const out: BackendOptions = {};
    for (const spec of this.#require(type).options) {
      const value = env[envName(type, spec.name)];
      if (value !== undefined && value !== '') out[spec.name] = value;
    }
    return out;
  }

  /** Whether `name` may name a configured remote: the right shape, and not a backend type. */
  checkRemoteName(name: string): void {
    if (!REMOTE_NAME.test(name)) {
      throw new ConfigError(`${JSON.stringify(name)} cannot name a remote: use two or more letters, digits, '_', '.' or '-'`);
    }
    const lower = name.toLowerCase();
    if (this.#types.has(lower)) {
      throw new ConfigError(`${JSON.stringify(name)} is a backend type; a remote needs another name`);
    }
  }

  /** Checks options against the type's schema: unknown names and wrong types refused, strings coerced, defaults applied. */
  validateOptions(type: string, options: Record<string, unknown>): BackendOptions {
    const definition = this.#require(type);
    const out: BackendOptions = {};
    for (const name of Object.keys(options)) {
      if (!definition.options.some((o) => o.name === name)) {
        throw new ConfigError(`${type}: unknown option ${name}; known: ${definition.options.map((o) => o.name).join(', ') || 'none'}`, {
          details: { type, option: name },
        });
      }
    }
    for (const spec of definition.options) {
      const value = options[spec.name];
      if (value === undefined) {
        if (spec.default !== undefined) out[spec.name] = spec.default;
        else if (spec.required) throw new ConfigError(`${type}: option ${spec.name} is required`, { details: { type, option: spec.name } });
        continue;
      }
      out[spec.name] = coerce(type, spec, value);
    }
    return out;
  }

  /**
   * A backend from a remote string or an already parsed `{type, options}`; options missing
   * from both are looked up in the environment (`FERRY_<TYPE>_<OPTION>`) before the defaults.
   */
  async open(remote: string | RemoteSpec, context: RemoteContext = {}): Promise<StorageBackend> {
    const { type, options, origin } = typeof remote === 'string' ? this.parseRemote(remote, context) : remote;
    const definition = this.#require(type);
    return definition.factory(this.validateOptions(type, { ...this.envOptions(type, context.env), ...options }), origin);
  }

  /** Whether an option of `type` is secret: by its schema, or by its name when the type is unknown. */
  #isSecret(type: string | undefined, name: string): boolean {
    const spec = type === undefined ? undefined : this.#types.get(type)?.options.find((o) => o.name === name);
    if (spec !== undefined) return spec.secret === true;
    const anySchema = [...this.#types.values()].some((d) => d.options.some((o) => o.name === name && o.secret));
    return anySchema || SECRET_NAME.test(name);
  }

  /**
   * A remote string fit for logs: the password of `scheme://user:password@host` and the values
   * of secret-looking `name=value` parameters (`?`, `&`, `;` or `,` separated) become `***`.
   */
  redactRemote(spec: string): string {
    const typed = TYPED_SPEC.exec(spec);
    const type = typed?.[1].toLowerCase();
    return spec
      .replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^@/?#]*)@/, (_, scheme: string, userinfo: string) => {
        const colon = userinfo.indexOf(':');
        return colon === -1 ? `${scheme}${userinfo}@` : `${scheme}${userinfo.slice(0, colon)}:${REDACTED}@`;
      })
      .replace(/([?&;,])([^=?&;,:/]+)=([^&;,#]*)/g, (whole, sep: string, name: string) =>
        this.#isSecret(type, safeDecode(name)) ? `${sep}${name}=${REDACTED}` : whole,
      );
  }

  /** Options fit for logs: secret values replaced by `***`. */
  redactOptions(type: string, options: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(options)) out[name] = this.#isSecret(type, name) ? REDACTED : value;
    return out;
  }
}
