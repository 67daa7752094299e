/**
 * The API description: `GET /api/v1/openapi.json` (OpenAPI 3.1, generated from the route
 * schemas, see ../openapi.ts) and a browsable reference at `GET /api/v1/docs`, served by
 * the server itself (no CDN) under a strict Content-Security-Policy: the page's script and
 * style sheet are files of this origin, and it builds the page with DOM calls and
 * textContent only (no inline script, no eval, no innerHTML).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../context.js';
import { NotFoundError } from '../../core/errors.js';
import { API_PREFIX } from '../../core/protocol.js';
import { openApiDocument } from '../openapi.js';

export const DOCS_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ferry API reference</title>
<link rel="stylesheet" href="docs/style.css">
<link rel="icon" href="docs/favicon.svg" type="image/svg+xml">
<header><h1>Ferry API</h1><p id="about">Loading the description…</p><input id="filter" type="search" placeholder="Filter routes" aria-label="Filter routes"></header>
<nav id="tags" aria-label="Sections"></nav>
<main id="ops"></main>
<script src="docs/app.js"></script>
</html>
`;

const STYLE = `body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
header{padding:1.2rem 2rem;background:#14305a;color:#fff}header h1{margin:0 0 .3rem}header p{margin:0 0 .6rem;opacity:.9}
#filter{width:min(32rem,100%);padding:.4rem .6rem;font:inherit;border-radius:4px;border:0}
nav{padding:.6rem 2rem;display:flex;flex-wrap:wrap;gap:.4rem}nav a{color:#14305a;text-decoration:none;border:1px solid #c9d3e2;border-radius:12px;padding:.1rem .6rem}
main{padding:0 2rem 3rem}h2{margin:1.6rem 0 .6rem;text-transform:capitalize}
details{background:#fff;border:1px solid #dde3ec;border-radius:6px;margin:.35rem 0}summary{cursor:pointer;padding:.5rem .7rem;display:flex;gap:.8rem;align-items:baseline}
.m{font:600 12px ui-monospace,monospace;min-width:4.2rem;text-align:center;border-radius:3px;padding:.15rem .3rem;color:#fff;background:#5a6678}
.m.get{background:#1f6f43}.m.post{background:#1d4f91}.m.put{background:#8a5a00}.m.delete{background:#9b1c1c}.m.patch{background:#5b3d99}.m.head{background:#4b5563}
.p{font-family:ui-monospace,monospace}.s{color:#4a5568}.pub{font-size:12px;color:#1f6f43;border:1px solid #1f6f43;border-radius:3px;padding:0 .3rem}
.body{padding:.2rem 1rem 1rem}table{border-collapse:collapse;margin:.3rem 0}td,th{border:1px solid #dde3ec;padding:.2rem .5rem;text-align:left;vertical-align:top}
pre{background:#f3f5f8;padding:.6rem;border-radius:4px;overflow:auto;font-size:13px}
`;

const SCRIPT = `'use strict';
(async () => {
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  };
  const res = await fetch('openapi.json');
  const doc = await res.json();
  document.getElementById('about').textContent = doc.info.title + ' ' + doc.info.version + ' (OpenAPI ' + doc.openapi + '): ' + doc.info.description;
  document.title = doc.info.title + ' reference';
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, op });
    }
  }
  const nav = document.getElementById('tags');
  const main = document.getElementById('ops');
  for (const [tag, ops] of byTag) {
    nav.append(el('a', { href: '#' + tag }, tag));
    const section = el('section', { id: tag }, el('h2', {}, tag));
    for (const { path, method, op } of ops) {
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      const summary = el('summary', {}, el('span', { class: 'm ' + method }, method.toUpperCase()), el('span', { class: 'p' }, path), el('span', { class: 's' }, op.summary || ''));
      if (isPublic) summary.append(el('span', { class: 'pub' }, 'no token'));
      const body = el('div', { class: 'body' });
      if (op.description) body.append(el('p', {}, op.description));
      if (op.parameters && op.parameters.length) {
        const table = el('table', {}, el('tr', {}, el('th', {}, 'parameter'), el('th', {}, 'in'), el('th', {}, 'schema')));
        for (const p of op.parameters) table.append(el('tr', {}, el('td', { class: 'p' }, p.name + (p.required ? ' *' : '')), el('td', {}, p.in), el('td', {}, JSON.stringify(p.schema))));
        body.append(table);
      }
      if (op.requestBody) {
        for (const [type, media] of Object.entries(op.requestBody.content || {})) body.append(el('p', {}, 'Request body (' + type + ')'), el('pre', {}, JSON.stringify(media.schema, null, 2)));
      }
      for (const [status, r] of Object.entries(op.responses || {})) {
        body.append(el('p', {}, 'Response ' + status + ': ' + (r.description || '')));
        for (const media of Object.values(r.content || {})) body.append(el('pre', {}, JSON.stringify(media.schema, null, 2)));
      }
      const d = el('details', { 'data-search': (method + ' ' + path + ' ' + (op.summary || '')).toLowerCase() }, summary, body);
      section.append(d);
    }
    main.append(section);
  }
  document.getElementById('filter').addEventListener('input', (ev) => {
    const q = ev.target.value.toLowerCase();
    for (const d of document.querySelectorAll('details')) d.hidden = q !== '' && !d.dataset.search.includes(q);
  });
  document.body.dataset.ready = String(document.querySelectorAll('details').length);
})();
`;

const ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#14305a"/><path d="M3 10h10l-2 3H5z" fill="#fff"/></svg>';

export const apiDocRoutes: RoutePlugin = async (app) => {
  const pub = { config: { public: true } };
  app.get(`${API_PREFIX}/openapi.json`, pub, (_request, reply) => openApi(app, reply));
  app.get(`${API_PREFIX}/docs`, pub, (_request, reply) => docsPage(reply));
  app.get(`${API_PREFIX}/docs/:asset`, pub, (request, reply) => docsAsset(request, reply));
};

async function openApi(app: FastifyInstance, reply: FastifyReply) {
  const document = await openApiDocument(app);
  reply.type('application/json; charset=utf-8');
  return reply.send(document);
}

async function docsPage(reply: FastifyReply) {
  reply.header('content-security-policy', DOCS_CSP);
  reply.header('x-frame-options', 'DENY');
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  return reply.type('text/html; charset=utf-8').send(PAGE);
}

async function docsAsset(request: FastifyRequest, reply: FastifyReply) {
  const { asset } = request.params as { asset: string };
  reply.header('x-content-type-options', 'nosniff');
  reply.header('cache-control', 'no-cache');
  if (asset === 'app.js') return reply.type('text/javascript; charset=utf-8').send(SCRIPT);
  if (asset === 'style.css') return reply.type('text/css; charset=utf-8').send(STYLE);
  if (asset === 'favicon.svg') return reply.type('image/svg+xml').send(ICON);
  throw new NotFoundError(`no ${asset}`);
}
