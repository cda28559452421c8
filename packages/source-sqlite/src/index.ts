export { sqlite } from './sqlite-source.js';
export type { SqliteOptions } from './sqlite-source.js';
export { SNAPSHOT_PREFIX } from './sqlite-snapshot.js';
