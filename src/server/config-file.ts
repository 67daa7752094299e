/**
 * Reads a config file for `ferry serve --config` and `ferry config check`: YAML (`.yaml`,
 * `.yml`), TOML (`.toml`) or JSON (`.json`), chosen by extension. Every problem is reported
 * with its line: syntax errors from the parsers, and for settings, the line of the key
 * (YAML and JSON are read by the `yaml` package, whose nodes keep their source ranges;
 * JSON is YAML 1.2. TOML's parser keeps no ranges, so keys are found by scanning lines).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError } from '../core/errors.js';
import { exposedSecretsWarning, unreadableFileMessage } from './operator-files.js';
import { resolveSettings, SETTINGS, throwProblems, type FileSettings, type SettingProblem } from './settings.js';

export type ConfigFormat = 'yaml' | 'toml' | 'json';

export function formatOf(file: string): ConfigFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.toml') return 'toml';
  if (ext === '.json') return 'json';
  throw new ConfigError(`${file}: unknown config format ${JSON.stringify(ext)} (use .yaml, .yml, .toml or .json)`);
}

/** Parses config text; syntax problems come back with their lines, values are not checked here. */
export function parseConfigText(file: string, text: string, format = formatOf(file)): { settings?: FileSettings; problems: SettingProblem[] } {
  if (format === 'toml') return parseTomlText(file, text);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const line = (offset: number) => lineCounter.linePos(offset).line;
  if (doc.errors.length > 0) {
    return { problems: doc.errors.map((e) => ({ key: '', source: 'file', message: e.message.split('\n')[0], line: e.linePos?.[0].line ?? line(e.pos[0]) })) };
  }
  const values = doc.toJS() as unknown;
  if (values === null || values === undefined) return { settings: { file, values: {}, lineOf: () => undefined }, problems: [] };
  if (typeof values !== 'object' || Array.isArray(values)) {
    return { problems: [{ key: '', source: 'file', message: 'the file must hold a mapping of settings (key: value)', line: 1 }] };
  }
  const lineOf = (path: (string | number)[]): number | undefined => {
    let node: unknown = doc.contents;
    let found: number | undefined;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
        if (!pair) return found;
        const keyNode = pair.key as Node;
        if (keyNode.range) found = line(keyNode.range[0]);
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as Node | undefined;
        if (!item) return found;
        if (item.range) found = line(item.range[0]);
        node = item;
      } else return found;
    }
    return found;
  };
  return { settings: { file, values: values as Record<string, unknown>, lineOf }, problems: [] };
}

function parseTomlText(file: string, text: string): { settings?: FileSettings; problems: SettingProblem[] } {
  let values: Record<string, unknown>;
  try {
    values = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) return { problems: [{ key: '', source: 'file', message: err.message.split('\n')[0], line: err.line }] };
    throw err;
  }
  const lines = text.split('\n');
  const lineOf = (path: (string | number)[]): number | undefined => {
    // The deepest key of the path that appears as `key =` or a `[table]` header.
    for (let depth = path.length; depth > 0; depth--) {
      const seg = String(path[depth - 1]);
      if (typeof path[depth - 1] === 'number') continue;
      const quoted = seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const re = new RegExp(`^\\s*(\\[+\\s*)?(?:[\\w.-]*\\.)?("${quoted}"|'${quoted}'|${quoted})\\s*(=|\\]|\\.)`);
      const i = lines.findIndex((l) => re.test(l));
      if (i >= 0) return i + 1;
    }
    return undefined;
  };
  return { settings: { file, values: convertTomlValues(values), lineOf }, problems: [] };
}

/** smol-toml gives TOML dates as Date objects and big integers as bigint: the settings want plain values. */
function convertTomlValues(v: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x))) as Record<string, unknown>;
}

/** Reads and parses a config file; a syntax error throws a ConfigError with `FILE:LINE:`. */
export async function readConfigFile(file: string): Promise<FileSettings> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(unreadableFileMessage(file, err, 'the config file'), { cause: err });
  }
  const { settings, problems } = parseConfigText(file, text);
  throwProblems(problems, file);
  return settings!;
}

/** The secrets a config file may hold: the settings that have no flag, since flags show in `ps`. */
const SECRET_KEYS = SETTINGS.filter((s) => s.noFlag).map((s) => s.key);

/** A warning when the file holds a secret and every local user may read it; undefined otherwise. */
export function configSecretsWarning(settings: FileSettings): Promise<string | undefined> {
  return exposedSecretsWarning(settings.file, Object.keys(settings.values), SECRET_KEYS);
}

/** `ferry config check`: every problem of a file (syntax, unknown keys, wrong types), with lines. */
export async function checkConfigFile(file: string): Promise<{ problems: SettingProblem[]; keys: number; warning?: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(unreadableFileMessage(file, err, 'the config file'), { cause: err });
  }
  const parsed = parseConfigText(file, text);
  if (!parsed.settings) return { problems: parsed.problems, keys: 0 };
  const { problems } = resolveSettings({ file: parsed.settings });
  return { problems, keys: Object.keys(parsed.settings.values).length, warning: await configSecretsWarning(parsed.settings) };
}
