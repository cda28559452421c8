/**
 * The contract test kit: every Destination and Source adapter runs these suites against a
 * real backend. Import from `@arca/core/test-kit` inside a vitest test file:
 *
 * ```ts
 * import { testDestination } from '@arca/core/test-kit';
 * testDestination('s3', async () => ({ destination: s3({...}), cleanup: async () => {} }));
 * ```
 */
export { testDestination, type DestinationFactory, type DestinationKitOptions } from './destination-suite.js';
export { testSource, type SourceFactory, type SourceKitOptions } from './source-suite.js';
export { generatedStream, collect, peakRss, recyclingStream } from './helpers.js';
export { describeWithService } from './services.js';
