import { describe, expect, it } from 'vitest';
import { ArcaError } from '@arca/core';
import { DumpScanner, mysql, parseBinlogHeader } from '@arca/source-mysql';

const DUMP = [
  '-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB',
  '/*!40101 SET NAMES utf8mb4 */;',
  '-- CHANGE MASTER TO MASTER_LOG_FILE=\'mysql-bin.000003\', MASTER_LOG_POS=1234;',
  "-- SET GLOBAL gtid_slave_pos='0-1-42';",
  'DROP TABLE IF EXISTS `t``odd`;',
  'CREATE TABLE `t``odd` (`a` int, `b` text);',
  "INSERT INTO `t``odd` VALUES (1,'x),(y'),(2,'it\\'s (\\\\'),(3,'line\\nbreak \\\\'),(4,NULL),(5,0x28292729);",
  'INSERT INTO `t``odd` VALUES (6,\'"),("\');',
  'INSERT INTO `cols` (`a`,`b (x)`) VALUES (1,2),(3,4);',
  'INSERT INTO `empty_values` VALUES ();',
  'INSERT INTO `multi` VALUES',
  "(1,'a;b'),",
  "(2,'c\\');'),",
  '(3,NULL);',
  '/*!50003 CREATE PROCEDURE p() BEGIN SELECT \'INSERT INTO `fake` VALUES (1)\'; END */;;',
  '',
].join('\n');

function scan(buf: Buffer, cut: number[]): DumpScanner {
  const s = new DumpScanner();
  let last = 0;
  for (const c of [...cut, buf.length]) {
    s.push(buf.subarray(last, c));
    last = c;
  }
  s.end();
  return s;
}

describe('DumpScanner', () => {
  it('counts rows per table and reads binlog coordinates, whatever the chunk boundaries', () => {
    const buf = Buffer.from(DUMP);
    const expected = { 't`odd': 6, cols: 2, empty_values: 1, multi: 3 };
    for (let cut = 1; cut < buf.length; cut++) {
      const s = scan(buf, [cut]);
      expect(s.rowsOf(''), `cut at ${cut}`).toEqual(expected);
      expect(s.binlog()).toEqual({ file: 'mysql-bin.000003', position: 1234, gtid: '0-1-42' });
    }
    const bytewise = scan(buf, Array.from({ length: buf.length - 1 }, (_, i) => i + 1));
    expect(bytewise.rowsOf('')).toEqual(expected);
  });

  it('keys rows by database in multi-database dumps (USE lines)', () => {
    const s = scan(Buffer.from('USE `a`;\nINSERT INTO `t` VALUES (1),(2);\nUSE `b`;\nINSERT INTO `t` VALUES (1);\nINSERT INTO `t` VALUES (2);\n'), []);
    expect(s.rowsOf('a')).toEqual({ t: 2 });
    expect(s.rowsOf('b')).toEqual({ t: 2 });
  });

  it('parses MySQL 8 source-data and GTID_PURGED comments', () => {
    expect(
      parseBinlogHeader([
        "-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=157;",
        "SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5,\n 4E11FA47-71CA-11E1-9E33-C80AA9429562:1-2';",
      ]),
    ).toEqual({ file: 'binlog.000002', position: 157, gtid: '3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5,4E11FA47-71CA-11E1-9E33-C80AA9429562:1-2' });
    expect(parseBinlogHeader(['-- nothing here'])).toEqual({});
  });
});

describe('mysql() options', () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(ArcaError);
      return { code: (e as ArcaError).code, message: (e as ArcaError).message };
    }
    throw new Error('expected a throw');
  };

  it('needs exactly one of database, databases, allDatabases', () => {
    expect(code(() => mysql({ user: 'u' })).code).toBe('CONFIG_INVALID');
    expect(code(() => mysql({ user: 'u', database: 'a', databases: ['b'] })).code).toBe('CONFIG_INVALID');
    expect(mysql({ user: 'u', allDatabases: true }).describe()).toMatchObject({ allDatabases: true });
  });

  it('refuses credentials or option files smuggled through extraArgs, without echoing them', () => {
    for (const bad of ['--password=hunter22', '-phunter22', '--defaults-file=/x', '--login-path=x']) {
      const e = code(() => mysql({ user: 'u', database: 'a', extraArgs: ['--skip-comments', bad] }));
      expect(e.code).toBe('CONFIG_INVALID');
      expect(e.message).toContain('extraArgs.1');
      expect(e.message).not.toContain('hunter22');
    }
  });

  it('describe() says whether a password is set, never the password', () => {
    const d = mysql({ user: 'backup', password: 'S3cr3t-Value!', database: 'gestionelogistica' }).describe();
    expect(d).toMatchObject({ kind: 'mysql', user: 'backup', passwordSet: true, database: 'gestionelogistica', singleTransaction: true, routines: true, triggers: true, events: true, hexBlob: true });
    expect(JSON.stringify(d)).not.toContain('S3cr3t-Value!');
  });
});
