// Preloaded (`node --import`) into `ferry serve` by test/cli/serve-signal-starting.test.ts:
// sends the process SIGNAL_AT_READY (SIGTERM, SIGINT) the moment its ready line is written,
// from inside the write. The kernel delivers it at once (Node's handler notes it for the event
// loop), before the serve command's next statement: the signal a reader sends as soon as it
// reads the line, on a machine busy enough that the server is paused right after the write.
const signal = process.env.SIGNAL_AT_READY;
const write = process.stdout.write.bind(process.stdout);
let sent = false;
process.stdout.write = (chunk, ...rest) => {
  const done = write(chunk, ...rest);
  if (!sent && signal && String(chunk).includes('"event":"ready"')) {
    sent = true;
    process.kill(process.pid, signal);
  }
  return done;
};
