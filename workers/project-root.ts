import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The folder holding Hindsight's package.json, whether running from sources or from dist/. */
export function findProjectRoot(start = __dirname): string {
  let dir = start;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'hindsight') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no hindsight package.json above ${start}`);
    dir = parent;
  }
}
