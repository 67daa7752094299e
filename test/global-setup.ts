/**
 * Runs once before the suites: makes sure the compiled CLI and the built web app exist
 * (end-to-end tests spawn `bin/ferry.js`, the real artifact; test/web/ drives dist/web).
 */
import { existsSync } from 'node:fs';

export default function setup(): void {
  if (!existsSync(new URL('../dist/src/cli/main.js', import.meta.url))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does it in pretest)');
  }
  // The web app's tests (test/web/) drive the built app, which the server serves from dist/web.
  if (!existsSync(new URL('../dist/web/index.html', import.meta.url))) {
    throw new Error('dist/web is missing: run `npm run build` (it builds the web app too)');
  }
}
