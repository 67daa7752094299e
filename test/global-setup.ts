/**
 * Runs once before the suites: makes sure the compiled CLI exists (end-to-end tests spawn
 * `bin/ferry.js`, the real artifact) and that system tools the suites need are installed.
 */
import { existsSync } from 'node:fs';

export default function setup(): void {
  if (!existsSync(new URL('../dist/src/cli/main.js', import.meta.url))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does it in pretest)');
  }
}
