export { sftp, DEFAULT_EXCLUDED_DIRS } from './sftp-destination.js';
export type { SftpOptions, SftpDestination } from './sftp-destination.js';
export { fingerprintOf, normalizeFingerprint } from './sftp-connection.js';
