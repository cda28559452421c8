// `npm start`: Node 20 cannot run TypeScript by itself, so jiti (the loader the arca CLI
// uses for arca.config.ts) compiles src/server.ts in-process; no build step for the app.
// (`node --import jiti/register` breaks on Node 20 when an ESM file requires the AWS SDK's
// CommonJS modules, hence the programmatic import.)
import { createJiti } from 'jiti';

await createJiti(import.meta.url).import('./src/server.ts');
