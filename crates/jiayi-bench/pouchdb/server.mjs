// express-pouchdb 4.2 (CouchDB's HTTP API on PouchDB, LevelDB storage), the server that the
// sync benchmark (../benches/sync.rs) pushes the same documents to as `_bulk_docs`.
//
//     node server.mjs <port, 0 for any free one> <data directory> [minimumForPouchDB|fullCouchDB]
//
// Listens on 127.0.0.1 only and prints `ready <port>` on stdout once it does; exits on
// SIGTERM or SIGINT, or when its standard input closes (the process holding the other end
// went away). The mode is express-pouchdb's: `minimumForPouchDB` (the default here) mounts
// what PouchDB's replication needs; `fullCouchDB` (express-pouchdb's own default) adds
// configuration, logging, authentication, security and validate_doc_update.
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const require = createRequire(import.meta.url);
const express = require('express');
const expressPouchDB = require('express-pouchdb');
const PouchDB = require('pouchdb-node');

const [portArg, dirArg, mode = 'minimumForPouchDB'] = process.argv.slice(2);
if (portArg === undefined || dirArg === undefined || !/^\d+$/.test(portArg)) {
  console.error('usage: node server.mjs <port> <data directory> [minimumForPouchDB|fullCouchDB]');
  process.exit(2);
}
const dir = resolve(dirArg);
mkdirSync(dir, { recursive: true });

const app = express();
app.use('/', expressPouchDB(PouchDB.defaults({ prefix: dir + '/' }), {
  mode,
  configPath: join(dir, 'config.json'),
  logPath: join(dir, 'log.txt'),
}));

const server = app.listen(Number(portArg), '127.0.0.1', () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});
server.on('error', (e) => {
  console.error(`express-pouchdb: ${e.message}`);
  process.exit(1);
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
