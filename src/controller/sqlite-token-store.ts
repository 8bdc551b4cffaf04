/**
 * Host tokens in the controller's SQLite file (table `host_tokens`, beside the policy tables).
 * The controller and `switchyard controller token ...` open the same file: a token created or
 * revoked by the command is seen by the running controller at its next request (no cache).
 */
import Database from 'better-sqlite3';
import { checkHostName, newToken } from './token-store.js';
import type { HostTokenStore, TokenInfo, TokenRecord } from './token-store.js';

interface Row {
  id: string;
  host: string;
  hash: Buffer;
  created_at: string;
}

export class SqliteTokenStore implements HostTokenStore {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec('CREATE TABLE IF NOT EXISTS host_tokens (id TEXT PRIMARY KEY, host TEXT NOT NULL, hash BLOB NOT NULL, created_at TEXT NOT NULL)');
    this.stmts = {
      insert: this.db.prepare<[string, string, Buffer, string]>('INSERT INTO host_tokens (id, host, hash, created_at) VALUES (?, ?, ?, ?)'),
      list: this.db.prepare<[], Row>('SELECT id, host, hash, created_at FROM host_tokens ORDER BY host, created_at, id'),
      find: this.db.prepare<[string], Row>('SELECT id, host, hash, created_at FROM host_tokens WHERE id = ?'),
      remove: this.db.prepare<[string]>('DELETE FROM host_tokens WHERE id = ?'),
    };
  }

  create(host: string): { id: string; host: string; token: string } {
    checkHostName(host);
    const { id, token, hash } = newToken();
    this.stmts.insert.run(id, host, hash, new Date().toISOString());
    return { id, host, token };
  }

  list(): TokenInfo[] {
    return this.stmts.list.all().map((row) => ({ id: row.id, host: row.host, createdAt: row.created_at }));
  }

  revoke(id: string): boolean {
    return this.stmts.remove.run(id).changes > 0;
  }

  find(id: string): TokenRecord | undefined {
    const row = this.stmts.find.get(id);
    return row === undefined ? undefined : { id: row.id, host: row.host, hash: row.hash, createdAt: row.created_at };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
