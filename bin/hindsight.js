#!/usr/bin/env node
// Thin launcher: the command line is compiled to dist/ by `npm ci` (the prepare script).
require('../dist/cli/hindsight.js')
  .main(process.argv)
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      // main() reports its own failures; this is the last resort, and still prints no stack trace.
      process.stderr.write(`hindsight: ${error && error.message ? error.message : error}\n`);
      process.exitCode = 2;
    },
  );
