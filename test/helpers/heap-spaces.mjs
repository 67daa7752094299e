// Preload (`node --import ./heap-spaces.mjs ...`): on each SIGUSR2, appends a line to the file
// named by HEAP_SPACES_TO: {"atStart": N, "now": N}, the young generation's size (V8's
// new_space, bytes) when the process started and now.
import { appendFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? -1;
const atStart = newSpace();
process.on('SIGUSR2', () => {
  if (process.env.HEAP_SPACES_TO) appendFileSync(process.env.HEAP_SPACES_TO, JSON.stringify({ atStart, now: newSpace() }) + '\n');
});
