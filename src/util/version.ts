// calitrace's version: package.json's, read once, so the CLI, the API's Status and the help agree.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from './package-root';

export const VERSION: string = (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
