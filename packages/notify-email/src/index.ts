export { email } from './email-notifier.js';
export type { EmailOptions, SmtpOptions } from './email-notifier.js';
export { renderEmail } from './email-format.js';
