import { testSource, describeWithService } from '@arca/core/test-kit';
import { expect } from 'vitest';
import { mysql } from '@arca/source-mysql';
import { HOST, PORT, admin, checksums, createUser, dropDb, objects, probeMariaDb, seedLogistics, uniqueName } from './helpers.js';

await describeWithService('MariaDB 10.11 on 127.0.0.1:3306', probeMariaDb, () => {
  testSource('mysql (MariaDB, password user)', async () => {
    const c = await admin();
    const db = uniqueName('kit');
    const user = uniqueName('u');
    const password = `Kit-${uniqueName('pw')}-"q'\\#;`;
    await seedLogistics(c, db, 5000);
    // The user can do what a backup/restore user does on its own databases (and their scratch copies).
    const dropUser = await createUser(c, user, password, [`ALL PRIVILEGES ON \`arcat\\_%\`.*`, 'SELECT ON mysql.proc', 'RELOAD, BINLOG MONITOR, SET USER ON *.*']);
    const created: string[] = [db];
    const opts = { host: HOST, port: PORT, user, password };
    const source = mysql({ ...opts, database: db });
    const before = { sums: await checksums(c, db), objects: await objects(c, db) };
    return {
      source,
      secrets: [password],
      restoreTarget: async () => {
        const name = uniqueName('kit_rt');
        created.push(name);
        return mysql({ ...opts, database: name, createDatabase: true });
      },
      assertRestored: async (target) => {
        const name = (target.describe() as { database: string }).database;
        expect(await checksums(c, name)).toEqual(before.sums);
        expect(await objects(c, name)).toEqual(before.objects);
      },
      snapshot: async (target) => {
        const name = (target.describe() as { database: string }).database;
        return { sums: await checksums(c, name), objects: await objects(c, name) };
      },
      cleanup: async () => {
        for (const d of created) await dropDb(c, d);
        await dropUser();
        await c.end();
      },
    };
  });
});
