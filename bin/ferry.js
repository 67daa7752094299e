#!/usr/bin/env node
// The `ferry` command. The compiled CLI lives in dist/ (built by `npm install` / `npm run build`).
import { main } from '../dist/src/cli/main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`ferry: ${err?.stack ?? err}`);
    process.exitCode = 70;
  },
);
