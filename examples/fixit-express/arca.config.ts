// The same backups for the `arca` CLI: `npm run arca -- backup daily`, `npm run arca -- list weekly`.
// It shares the run log and the lock (.arca/) with the running app.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFixitBackups } from './src/backups.js';

const root = process.env.FIXIT_ROOT ?? path.dirname(fileURLToPath(import.meta.url));
export default createFixitBackups(root, process.env).arca;
