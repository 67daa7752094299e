/**
 * The sftp backend and its registry entry: `sftp://user@host:port/path`.
 *
 * The path of the URL is absolute (`sftp://host/srv/ferry`); `sftp://host/~/dir` and
 * `sftp://host` are relative to the login directory. A password may be written in the URL
 * (`sftp://user:pass@host`), but is better given as an option or in a named remote: remote
 * strings reach logs only redacted, shells' histories keep them whole.
 */
import { ConfigError } from '../../core/errors.js';
import type { BackendDefinition, BackendOptions } from '../definition.js';
import { splitLast } from '../split-last.js';

// The implementation (ssh2) is loaded only when an sftp remote is opened; import
// SftpBackend from './sftp-backend.js' directly.

const URL_FORM = /^\/\/(?:([^@/]*)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?(\/.*)?$/s;

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ConfigError(`sftp: the ${what} is not valid percent-encoding`);
  }
}

export const sftpBackendDefinition: BackendDefinition = {
  type: 'sftp',
  description: 'files below a directory of an SSH server (SFTP), with pipelined transfers',
  options: [
    { name: 'host', type: 'string', required: true, description: 'server name or address' },
    { name: 'port', type: 'number', default: 22, description: 'SSH port' },
    { name: 'user', type: 'string', description: 'login name (default: the local user)' },
    { name: 'root', type: 'string', default: '', description: 'directory holding the objects: absolute, or relative to the login directory' },
    { name: 'password', type: 'string', secret: true, description: 'password login' },
    { name: 'keyFile', type: 'string', description: 'private key file (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa, or the ssh-agent)' },
    { name: 'privateKey', type: 'string', secret: true, description: 'private key text, instead of keyFile' },
    { name: 'passphrase', type: 'string', secret: true, description: 'passphrase of the private key' },
    { name: 'agent', type: 'string', description: 'ssh-agent socket (default SSH_AUTH_SOCK when no password or key is given)' },
    { name: 'knownHostsFile', type: 'string', description: 'known_hosts file checked for the host key (default ~/.ssh/known_hosts)' },
    { name: 'hostKeyFingerprint', type: 'string', description: 'pins the host key (SHA256:… from ssh-keygen -lf) instead of known_hosts' },
    { name: 'insecureSkipHostKeyCheck', type: 'boolean', default: false, description: 'accept any host key (throwaway test servers only)' },
    { name: 'window', type: 'number', description: 'READ/WRITE requests in flight per transfer (default 32)' },
    { name: 'requestSize', type: 'number', description: 'bytes per request (default: the server maximum, at most 256 KiB)' },
  ],
  parseSpec(rest) {
    const m = URL_FORM.exec(rest);
    if (m === null) throw new ConfigError('sftp: write the remote as sftp://[user[:password]@]host[:port][/path]');
    const [, userinfo, hostPart, port, pathPart] = m;
    const out: BackendOptions = { host: hostPart.replace(/^\[|\]$/g, '') };
    if (userinfo !== undefined && userinfo !== '') {
      const colon = userinfo.indexOf(':');
      out.user = decode(colon === -1 ? userinfo : userinfo.slice(0, colon), 'user');
      if (colon !== -1) out.password = decode(userinfo.slice(colon + 1), 'password');
    }
    if (port !== undefined) out.port = Number(port);
    const p = pathPart === undefined ? '' : decode(pathPart, 'path');
    if (p === '/~' || p.startsWith('/~/')) out.root = p.slice(3);
    else if (p !== '' && p !== '/') out.root = p;
    else if (p === '/') out.root = '/';
    return out;
  },
  // `nas:/srv/x` is /srv/x on the server whatever the remote's root (rclone's rule), `nas:x`
  // is x below the root (or the login directory).
  subPath: (options, sub, absolute) => ({ ...options, root: absolute ? `/${sub}` : options.root ? `${String(options.root).replace(/\/$/, '')}/${sub}` : sub }),
  parentOf(options) {
    const split = splitLast(String(options.root ?? ''));
    return split === undefined ? undefined : { options: { ...options, root: split.parent }, name: split.name };
  },
  factory: async (options) =>
    (await import('./sftp-backend.js')).SftpBackend.connect({
      host: options.host as string,
      port: options.port as number,
      user: options.user as string | undefined,
      root: options.root as string,
      password: options.password as string | undefined,
      keyFile: options.keyFile as string | undefined,
      privateKey: options.privateKey as string | undefined,
      passphrase: options.passphrase as string | undefined,
      agent: options.agent as string | undefined,
      knownHostsFile: options.knownHostsFile as string | undefined,
      hostKeyFingerprint: options.hostKeyFingerprint as string | undefined,
      insecureSkipHostKeyCheck: options.insecureSkipHostKeyCheck as boolean,
      window: options.window as number | undefined,
      requestSize: options.requestSize as number | undefined,
    }),
};
