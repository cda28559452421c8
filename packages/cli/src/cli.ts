// The `arca` binary (package.json "bin"; tsup adds the shebang).
import { main } from './cli-main.js';

const code = await main(process.argv);
// Exit explicitly: timers of adapters (lock heartbeats, idle connections) must not keep a cron job alive.
process.exit(code);
