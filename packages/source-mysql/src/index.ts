export { mysql } from './mysql-source.js';
export type { MySqlSource, MySqlDrillTarget } from './mysql-source.js';
export type { MySqlOptions } from './mysql-options.js';
export type { DrillOptions, DrillReport, DrillCheck, DrillAssertion } from './mysql-drill.js';
export type { BinlogMeta } from './mysql-dump.js';
export { DumpScanner, parseBinlogHeader } from './mysql-dump-scanner.js';
export type { BinlogCoordinates } from './mysql-dump-scanner.js';
