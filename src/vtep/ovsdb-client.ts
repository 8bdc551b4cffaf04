/**
 * A small OVSDB client (RFC 7047, JSON-RPC 1.0) over a unix socket: `transact`, `monitor` (table
 * updates come as 'update' events), and answers to the server's `echo` keepalives. No npm package
 * for OVSDB is both small and kept up, and the protocol is a handful of messages.
 *
 * Framing: the server writes JSON objects back to back with no delimiter, so the reader splits the
 * byte stream at the close of each top-level object (tracking strings and escapes). A message
 * larger than `maxMessageBytes`, or bytes that are not a JSON object, close the connection with a
 * clear error: a confused or hostile peer cannot make the client buffer without end.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';

/** RFC 7047 <value> forms used here. */
export type OvsdbAtom = string | number | boolean | ['uuid', string] | ['named-uuid', string];
export type OvsdbValue = OvsdbAtom | ['set', OvsdbAtom[]] | ['map', [OvsdbAtom, OvsdbAtom][]];
export type OvsdbRow = Record<string, OvsdbValue>;

/** uuid -> { old?, new? } per table, as in `update` notifications and the monitor reply. */
export type TableUpdates = Record<string, Record<string, { old?: OvsdbRow; new?: OvsdbRow }>>;

export interface OvsdbOperation {
  op: 'insert' | 'update' | 'delete' | 'mutate' | 'select' | 'wait' | 'comment' | 'assert';
  table?: string;
  row?: OvsdbRow;
  where?: [string, string, OvsdbValue][];
  'uuid-name'?: string;
  [key: string]: unknown;
}

export interface OvsdbClientEvents {
  /** A monitor's table updates (monitor id, updates). */
  update: [monitorId: string, updates: TableUpdates];
  /** The connection ended (with the reason); pending requests are rejected. */
  close: [reason: string];
}

export class OvsdbError extends Error {
  constructor(
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

const DEFAULT_MAX_MESSAGE = 64 << 20;

/** Splits a byte stream into top-level JSON object texts. */
export class JsonObjectSplitter {
  private buffer = '';
  private depth = 0;
  private inString = false;
  private escape = false;
  /** Where the scan stopped in `buffer`. */
  private scanned = 0;

  constructor(private readonly maxBytes = DEFAULT_MAX_MESSAGE) {}

  /** Feed text; returns the complete objects. Throws on a non-object byte or an oversized message. */
  push(chunk: string): string[] {
    this.buffer += chunk;
    const out: string[] = [];
    let start = 0;
    for (let i = this.scanned; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === 0x5c) this.escape = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (this.depth === 0) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
          start = i + 1;
          continue;
        }
        if (c !== 0x7b) throw new OvsdbError(`ovsdb: expected a JSON object, got ${JSON.stringify(this.buffer[i])}`);
        start = i;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          out.push(this.buffer.slice(start, i + 1));
          start = i + 1;
        }
      }
    }
    this.buffer = this.depth === 0 && !this.inString ? '' : this.buffer.slice(start);
    this.scanned = this.buffer.length;
    if (this.buffer.length > this.maxBytes) throw new OvsdbError(`ovsdb: a message longer than ${this.maxBytes} bytes`);
    return out;
  }
}

interface Pending {
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

export class OvsdbClient extends EventEmitter<OvsdbClientEvents> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  private constructor(
    private readonly socket: net.Socket,
    maxMessageBytes: number,
  ) {
    super();
    const splitter = new JsonObjectSplitter(maxMessageBytes);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      try {
        for (const text of splitter.push(chunk)) this.onMessage(JSON.parse(text) as Record<string, unknown>);
      } catch (error) {
        this.shutdown(error instanceof OvsdbError ? error.message : `ovsdb: bad message: ${(error as Error).message}`);
      }
    });
    socket.on('error', (error) => this.shutdown(`ovsdb: ${error.message}`));
    socket.on('close', () => this.shutdown('ovsdb: connection closed'));
  }

  /** Connect to `unix:PATH` (or a bare path). */
  static connect(target: string, options: { maxMessageBytes?: number } = {}): Promise<OvsdbClient> {
    const path = target.startsWith('unix:') ? target.slice('unix:'.length) : target;
    if (/^(tcp|ssl|ptcp|pssl|punix):/.test(target)) return Promise.reject(new OvsdbError(`ovsdb: only unix:PATH is supported, got ${target}`));
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new OvsdbClient(socket, options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE));
      });
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private onMessage(message: Record<string, unknown>): void {
    if (typeof message.method === 'string') {
      if (message.method === 'echo') this.write({ id: message.id, result: message.params ?? [], error: null });
      else if (message.method === 'update' && Array.isArray(message.params) && message.params.length === 2) {
        this.emit('update', String(message.params[0]), message.params[1] as TableUpdates);
      }
      return; // other notifications (locked, stolen) are not used
    }
    if (typeof message.id !== 'number') return;
    const pending = this.pending.get(message.id);
    if (pending === undefined) return;
    this.pending.delete(message.id);
    if (message.error !== null && message.error !== undefined) pending.reject(new OvsdbError(`ovsdb: ${JSON.stringify(message.error)}`, message.error));
    else pending.resolve(message.result);
  }

  private write(message: object): void {
    if (!this.closed) this.socket.write(JSON.stringify(message));
  }

  request(method: string, params: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new OvsdbError('ovsdb: connection closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.write({ method, params, id });
    });
  }

  echo(): Promise<unknown> {
    return this.request('echo', ['switchyard']);
  }

  /**
   * Run operations as one transaction. Resolves with the per-operation results; rejects when any
   * operation failed (RFC 7047: an error object in the results), naming the first error.
   */
  async transact(db: string, operations: OvsdbOperation[]): Promise<Record<string, unknown>[]> {
    const results = (await this.request('transact', [db, ...operations])) as (Record<string, unknown> | null)[];
    const failed = results.find((result): result is Record<string, unknown> => result !== null && typeof result.error === 'string');
    if (failed !== undefined) {
      throw new OvsdbError(`ovsdb transaction failed: ${String(failed.error)}${failed.details === undefined ? '' : `: ${String(failed.details)}`}`, results);
    }
    return results as Record<string, unknown>[];
  }

  /** Start a monitor; resolves with the initial contents, later changes arrive as 'update' events. */
  async monitor(db: string, monitorId: string, tables: Record<string, { columns?: string[] }>): Promise<TableUpdates> {
    return (await this.request('monitor', [db, monitorId, tables])) as TableUpdates;
  }

  private shutdown(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    for (const pending of this.pending.values()) pending.reject(new OvsdbError(reason));
    this.pending.clear();
    this.emit('close', reason);
  }

  close(): void {
    this.shutdown('ovsdb: closed by the client');
  }
}

/** The atoms of a set-valued column (an atom alone is a one-element set). */
export function setAtoms(value: OvsdbValue | undefined): OvsdbAtom[] {
  if (value === undefined) return [];
  if (Array.isArray(value) && value[0] === 'set') return value[1] as OvsdbAtom[];
  return [value as OvsdbAtom];
}

/** The uuid of a reference column (or of a one-element set of references). */
export function uuidOf(value: OvsdbValue | undefined): string | undefined {
  const atom = setAtoms(value)[0];
  return Array.isArray(atom) && atom[0] === 'uuid' ? atom[1] : undefined;
}
