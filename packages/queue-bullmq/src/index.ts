export { bullmqRunner } from './bullmq-runner.js';
export type { BullmqRunnerOptions } from './runner-options.js';
export type { RunJobData, RunJobResult, CurrentAttempt } from './run-processor.js';
