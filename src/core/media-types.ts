/**
 * What a file name says about its bytes: the `Content-Type` a file is served with and the
 * kind of preview the web app offers. Shared by the server and the web app.
 *
 * Nothing a user stored is ever given a type a browser would run in our origin: HTML, SVG,
 * XML and scripts are plain text here.
 */
export type PreviewKind = 'image' | 'video' | 'audio' | 'pdf' | 'text' | 'none';

const MEDIA: Record<string, [string, PreviewKind]> = {
  png: ['image/png', 'image'],
  jpg: ['image/jpeg', 'image'],
  jpeg: ['image/jpeg', 'image'],
  gif: ['image/gif', 'image'],
  webp: ['image/webp', 'image'],
  avif: ['image/avif', 'image'],
  bmp: ['image/bmp', 'image'],
  ico: ['image/x-icon', 'image'],
  mp4: ['video/mp4', 'video'],
  m4v: ['video/mp4', 'video'],
  webm: ['video/webm', 'video'],
  ogv: ['video/ogg', 'video'],
  mov: ['video/quicktime', 'video'],
  mp3: ['audio/mpeg', 'audio'],
  m4a: ['audio/mp4', 'audio'],
  aac: ['audio/aac', 'audio'],
  ogg: ['audio/ogg', 'audio'],
  oga: ['audio/ogg', 'audio'],
  opus: ['audio/ogg', 'audio'],
  wav: ['audio/wav', 'audio'],
  flac: ['audio/flac', 'audio'],
  pdf: ['application/pdf', 'pdf'],
};

const TEXT = new Set(
  (
    'txt text md markdown rst csv tsv log json jsonl ndjson yaml yml toml ini conf cfg env properties xml html htm xhtml svg css scss less ' +
    'js mjs cjs ts tsx jsx vue svelte py rb go rs java kt kts swift c h cc cpp hpp cxx cs m mm php pl pm lua r scala dart sh bash zsh fish ' +
    'ps1 bat cmd sql graphql proto tf hcl nix ex exs erl hs ml clj lisp el vim diff patch gitignore gitattributes dockerignore editorconfig lock'
  ).split(' '),
);
const TEXT_NAMES = new Set(['readme', 'license', 'copying', 'makefile', 'dockerfile', 'containerfile', 'changelog', 'authors', 'notice', 'todo']);

function extension(name: string): string {
  const i = name.lastIndexOf('.');
  return i <= 0 ? '' : name.slice(i + 1).toLowerCase();
}

export function previewKind(name: string): PreviewKind {
  const ext = extension(name);
  const media = MEDIA[ext];
  if (media) return media[1];
  if (TEXT.has(ext) || (ext === '' && TEXT_NAMES.has(name.toLowerCase()))) return 'text';
  return 'none';
}

/** The `Content-Type` a file is served with: media by name, anything textual as plain text, the rest as bytes. */
export function contentTypeFor(name: string): string {
  const media = MEDIA[extension(name)];
  if (media) return media[0];
  return previewKind(name) === 'text' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
}

