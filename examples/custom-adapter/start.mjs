// `npm start`: Node 20 cannot run TypeScript by itself; jiti (the loader the arca CLI uses
// for arca.config.ts) compiles src/demo.ts in-process.
import { createJiti } from 'jiti';

await createJiti(import.meta.url).import('./src/demo.ts');
