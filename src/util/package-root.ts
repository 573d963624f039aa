// Where this checkout (or installed package) lives, so commands can find the loader, scripts and bin/.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The package root: the nearest directory above this file holding calitrace's package.json. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'calitrace') return dir;
      } catch {
        /* not ours: keep walking up */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find calitrace's package.json above ${__dirname}`);
    dir = up;
  }
}
