// A host app stand-in: keeps committing transactions to a SQLite database until killed.
// Each transaction appends counter row n+1 and sets totals.n = n+1, so any consistent
// snapshot holds rows 1..N exactly and totals.n = N.
// Usage: node writer.mjs <db file>   (prints "ready <n>" once 50 rows are committed)
import Database from 'better-sqlite3';

const db = new Database(process.argv[2], { fileMustExist: true, timeout: 30_000 });
db.pragma('synchronous = OFF'); // speed, not durability, is what this test writer needs
const insert = db.prepare('INSERT INTO counter (n, pad) VALUES (?, randomblob(300))');
const total = db.prepare('UPDATE totals SET n = ? WHERE id = 1');
let n = Number(db.prepare('SELECT coalesce(max(n), 0) AS m FROM counter').get().m);
const tx = db.transaction(() => {
  n++;
  insert.run(n);
  total.run(n);
});
let announced = false;
// Paced like a busy web app (a couple of commits per millisecond at most), not a tight loop:
// a tight loop in rollback-journal mode would leave readers almost no window to read.
const loop = () => {
  tx();
  if (!announced && n >= 50) {
    announced = true;
    process.stdout.write(`ready ${n}\n`);
  }
  setTimeout(loop, 1);
};
process.on('SIGTERM', () => {
  db.close();
  process.exit(0);
});
loop();
