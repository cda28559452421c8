export { ftp, DEFAULT_EXCLUDED_DIRS } from './ftp-destination.js';
export type { FtpOptions, FtpDestination } from './ftp-destination.js';
export { normalizeCertFingerprint } from './ftp-connection.js';
