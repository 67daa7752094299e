/**
 * The WebDAV `If` request header (RFC 4918 section 10.4): conditions on lock tokens and
 * entity tags, and the way a client submits the lock tokens it holds.
 *
 *     If = 1*No-tag-list | 1*Tagged-list
 *     Tagged-list = "<" Simple-ref ">" 1*List
 *     List = "(" 1*Condition ")"
 *     Condition = ["Not"] (State-token | "[" entity-tag "]")
 *
 * A list holds when all its conditions hold; the header holds when any list does (10.4.3).
 * A list without a tag applies to the request URI. A state token holds when it is the
 * token of a live lock covering the resource; an entity tag when it equals the resource's
 * ETag. The header failing is 412; it holding says nothing about locks, which are checked
 * apart: a write to a locked resource needs one of its lock's tokens among the ones the
 * header names (10.4.1, 7.5), whatever the evaluation.
 */
import { ValidationError } from '../../core/errors.js';

export interface IfCondition {
  not: boolean;
  /** A state token (`urn:uuid:…`, `DAV:no-lock`, …), without the angle brackets. */
  token?: string;
  /** An entity tag with its quotes (`"abc"`, `W/"abc"`). */
  etag?: string;
}

export interface IfList {
  /** The tagged resource (the Simple-ref, as sent); undefined: the request URI. */
  resource?: string;
  conditions: IfCondition[];
}

/** What a list's conditions are checked against. */
export interface ResourceState {
  /** The resource's ETag; undefined when it does not exist (or has none). */
  etag?: string;
  /** Tokens of the live locks covering the resource. */
  tokens: ReadonlySet<string>;
}

const MAX_IF_LENGTH = 16 * 1024;

function bad(message: string): never {
  throw new ValidationError(`the If header is not valid: ${message}`);
}

/** Parses an If header; FERRY_ERR_VALIDATION (400) for anything that does not follow the grammar. */
export function parseIfHeader(value: string): IfList[] {
  if (value.length > MAX_IF_LENGTH) bad(`longer than ${MAX_IF_LENGTH} characters`);
  const lists: IfList[] = [];
  let tag: string | undefined;
  let tagged: boolean | undefined;
  let i = 0;
  const skip = () => {
    while (i < value.length && /\s/.test(value[i])) i++;
  };
  /** `<...>` at i, returning what is inside. */
  const angle = (): string => {
    const end = value.indexOf('>', i);
    if (end === -1) bad('a "<" without ">"');
    const inside = value.slice(i + 1, end);
    i = end + 1;
    return inside;
  };
  for (skip(); i < value.length; skip()) {
    if (value[i] === '<') {
      if (tagged === false) bad('tagged and untagged lists mixed');
      tagged = true;
      tag = angle();
      skip();
      if (value[i] !== '(') bad('a resource tag must be followed by a list');
      continue;
    }
    if (value[i] !== '(') bad(`unexpected ${JSON.stringify(value[i])}`);
    if (tagged === undefined) tagged = false;
    i++;
    const conditions: IfCondition[] = [];
    for (skip(); value[i] !== ')'; skip()) {
      if (i >= value.length) bad('a "(" without ")"');
      let not = false;
      if (value.startsWith('Not', i) && /[\s<[]/.test(value[i + 3] ?? '')) {
        not = true;
        i += 3;
        skip();
      }
      if (value[i] === '<') conditions.push({ not, token: angle() });
      else if (value[i] === '[') {
        const end = value.indexOf(']', i);
        if (end === -1) bad('a "[" without "]"');
        const etag = value.slice(i + 1, end).trim();
        if (!/^(W\/)?"[^"]*"$/.test(etag)) bad(`${etag} is not an entity tag`);
        conditions.push({ not, etag });
        i = end + 1;
      } else bad(`unexpected ${JSON.stringify(value[i])} in a list`);
    }
    i++;
    if (conditions.length === 0) bad('an empty list');
    lists.push(tagged ? { resource: tag, conditions } : { conditions });
  }
  if (lists.length === 0) bad('no list');
  return lists;
}

/** Every state token the header names outside a Not: the lock tokens the client submits. */
export function submittedTokens(lists: readonly IfList[]): Set<string> {
  const out = new Set<string>();
  for (const l of lists) for (const c of l.conditions) if (c.token !== undefined && !c.not) out.add(c.token);
  return out;
}

function holds(c: IfCondition, state: ResourceState): boolean {
  const yes = c.token !== undefined ? state.tokens.has(c.token) : state.etag !== undefined && stripWeak(c.etag!) === stripWeak(state.etag);
  return c.not ? !yes : yes;
}

const stripWeak = (etag: string): string => (etag.startsWith('W/') ? etag.slice(2) : etag);

/**
 * Whether the header holds. `stateOf(resource)` gives the state of a tagged resource (its
 * Simple-ref as sent) or, for undefined, of the request URI; each is asked for once.
 */
export async function evaluateIf(lists: readonly IfList[], stateOf: (resource: string | undefined) => Promise<ResourceState>): Promise<boolean> {
  const states = new Map<string | undefined, Promise<ResourceState>>();
  for (const list of lists) {
    let state = states.get(list.resource);
    if (!state) states.set(list.resource, (state = stateOf(list.resource)));
    const s = await state;
    if (list.conditions.every((c) => holds(c, s))) return true;
  }
  return false;
}
