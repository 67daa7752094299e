/** curl against nginx: `curl -T` into WebDAV PUT, `curl -o` from a static GET (sendfile). */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Nginx } from '../peers/nginx.js';
import type { Tool } from './tool.js';

export function curlTool(nginx: Nginx): Tool {
  const url = (name: string) => `${nginx.url}/curl/${name.split('/').map(encodeURIComponent).join('/')}`;
  return {
    id: 'curl',
    label: 'curl → nginx',
    server: nginx,
    isFerry: false,
    upload: (local, name) => ({ cmd: 'curl', args: ['-sS', '-f', '-T', local, url(name)] }),
    download: (name, local) => ({ cmd: 'curl', args: ['-sS', '-f', '-o', local, url(name)] }),
    uploadMany: (locals, dir) => locals.map((l, i) => ({ cmd: 'curl', args: ['-sS', '-f', '-T', l, url(`${dir}/${manyName(i)}`)] })),
    clear: () => rm(join(nginx.root, 'curl'), { recursive: true, force: true }),
  };
}

/** The remote name of concurrent client i's file. */
export function manyName(i: number): string {
  return `f${String(i).padStart(4, '0')}.bin`;
}
