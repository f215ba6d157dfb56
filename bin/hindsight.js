#!/usr/bin/env node
// Thin launcher: the command line is compiled to dist/ by `npm ci` (the prepare script).
require('../dist/cli/hindsight.js')
  .main(process.argv)
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`hindsight: ${error && error.stack ? error.stack : error}\n`);
      process.exitCode = 2;
    },
  );
