/**
 * The controller's HTTP server (fastify): the northbound REST API under /networking/v1 (see
 * envelope.ts for the resource shape), /openapi.json, and the agents' sync stream (sync-hub.ts).
 * A write is: authenticate, validate the whole resulting policy (changes.ts), write it as one store
 * transaction conditioned on the revision it was validated against (retried if the store moved),
 * then publish to the agents. Nothing of a rejected request reaches the store. A write of one
 * resource is validated against what it touches (change-scope.ts); a whole-policy PUT
 * (`PUT /networking/v1/policy`, replace everything) gets full validation, on a worker thread when
 * the document is large (validation-pool.ts), and is written as the resources that differ.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { POLICY_KINDS, SYNC_PATH } from '../agent/controller-sync-protocol.js';
import type { PolicyKind } from '../agent/controller-sync-protocol.js';
import { ROOT_PATH } from '../policy/errors.js';
import { HOST_STATE_ROUTE, TokenAuth, VIEW_ROUTE } from './auth.js';
import type { Principal } from './auth.js';
import { HostStates, parseHostStateReport } from './host-states.js';
import type { HostTokenStore } from './token-store.js';
import { checkDelete, checkPut } from './changes.js';
import type { ChangeProblem } from './changes.js';
import { API_PREFIX, envelope, errorBody } from './envelope.js';
import { openApiDocument } from './openapi.js';
import { NotFoundError, PreconditionFailedError, StoreConflictError, StoreLimitError } from './store.js';
import type { PolicyStore, WriteConditions } from './store.js';
import { DEFAULT_MAX_DEPTH, jsonDepthProblem } from './body-depth.js';
import { SyncHub } from './sync-hub.js';
import type { SyncLimits } from './sync-hub.js';
import { policyWrites } from './policy-writes.js';
import { PolicyValidator } from './validation-pool.js';
import type { PolicyValidatorOptions } from './validation-pool.js';

/** The whole policy: PUT replaces it (admin only). */
export const POLICY_ROUTE = `${API_PREFIX}/policy`;

/** A whole-policy PUT's body, kept as text for the validation worker (one string to copy). */
class JsonText {
  constructor(readonly text: string) {}
}

export interface ControllerOptions {
  store: PolicyStore;
  /** The admin bearer token: may do everything. */
  token: string;
  /** Host-scoped tokens (token-store.ts); without it only the admin token is accepted. */
  tokens?: HostTokenStore;
  /** Serve HTTPS with this certificate chain and key (PEM); without it, plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Sync heartbeat period (default 5000 ms). */
  heartbeatMs?: number;
  /** Largest accepted request body (default 1 MiB). */
  bodyLimit?: number;
  /** Deepest accepted nesting of arrays and objects in a JSON body (default 64). */
  maxBodyDepth?: number;
  /** Caps on the agents' sync streams (see sync-hub.ts for the defaults). */
  sync?: SyncLimits;
  /** Largest accepted whole-policy PUT body (default 64 MiB: 100,000 ports are about 20 MB). */
  policyBodyLimit?: number;
  /** Where whole-policy PUTs are validated (default: a piscina worker for large documents). */
  validation?: PolicyValidatorOptions;
  logger?: Logger;
}

export interface ListenAddress {
  host: string;
  port: number;
  /** Base URL, e.g. https://127.0.0.1:8080 */
  url: string;
}

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

const WRITE_RETRIES = 3;

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function conditionsOf(request: FastifyRequest, baseRevision: number): WriteConditions {
  const conditions: WriteConditions = { baseRevision };
  const ifMatch = header(request, 'if-match');
  const ifNoneMatch = header(request, 'if-none-match');
  if (ifMatch !== undefined) conditions.ifMatch = ifMatch;
  if (ifNoneMatch !== undefined) conditions.ifNoneMatch = ifNoneMatch;
  return conditions;
}

/** If-Match / If-None-Match against the resource as stored now (the store checks again atomically). */
function preconditionFails(request: FastifyRequest, etag: string | undefined): string | undefined {
  const tags = (value: string): string[] => value.split(',').map((tag) => tag.trim().replace(/^W\//, ''));
  const ifMatch = header(request, 'if-match');
  const ifNoneMatch = header(request, 'if-none-match');
  if (ifMatch !== undefined && (etag === undefined || !tags(ifMatch).some((tag) => tag === '*' || tag === etag))) {
    return etag === undefined ? 'resource does not exist' : `etag is ${etag}`;
  }
  if (ifNoneMatch !== undefined && etag !== undefined && tags(ifNoneMatch).some((tag) => tag === '*' || tag === etag)) return 'resource already exists';
  return undefined;
}

/**
 * A request node's HTTP parser refused (cut short, bad framing, headers too large, too slow): the
 * same error shape as every other reply, then the connection is closed.
 */
function malformedRequest(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'RequestTimeout', 'the request was not received in time']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'HeadersTooLarge', 'the request headers are too large']
        : [400, 'BadRequest', `malformed HTTP request (${error.code ?? error.message})`];
  const body = JSON.stringify(errorBody(code, message, [{ path: ROOT_PATH, message }]));
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

function sendProblem(reply: FastifyReply, problem: ChangeProblem): FastifyReply {
  return reply.code(problem.status).send(errorBody(problem.code, problem.message, problem.errors));
}

export class ControllerServer {
  readonly app: FastifyInstance;
  readonly hub: SyncHub;
  readonly hostStates = new HostStates();
  private readonly auth: TokenAuth;
  private readonly principals = new WeakMap<FastifyRequest, Principal>();
  readonly validator: PolicyValidator;

  constructor(private readonly options: ControllerOptions) {
    this.validator = new PolicyValidator(options.validation);
    this.auth = new TokenAuth(options.token, options.tokens);
    this.hub = new SyncHub(options.store, { ...options.sync, ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }) });
    // a shared store (etcd) moves under writes of other controllers: their agents hear of them too
    options.store.onChange?.(() => this.hub.publish());
    this.app = Fastify({
      bodyLimit: options.bodyLimit ?? 1024 * 1024,
      clientErrorHandler: malformedRequest,
      ...(options.tls === undefined ? {} : { https: { cert: options.tls.cert, key: options.tls.key } }),
      ...(options.logger === undefined ? { logger: false } : { loggerInstance: options.logger }),
    }) as unknown as FastifyInstance;
    this.routes();
  }

  get store(): PolicyStore {
    return this.options.store;
  }

  private routes(): void {
    const app = this.app;
    // JSON only: a text/plain body is 415 rather than a string that fails validation.
    app.removeContentTypeParser('text/plain');
    // JSON bodies: the nesting depth is checked by a flat scan before anything recursive (the parser,
    // the schema) sees the body; too deep is 400, not a 500 "Maximum call stack size exceeded".
    const maxDepth = this.options.maxBodyDepth ?? DEFAULT_MAX_DEPTH;
    const parseJson = app.getDefaultJsonParser('error', 'ignore');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const problem = jsonDepthProblem(body as string, maxDepth);
      if (problem !== undefined) {
        done(Object.assign(new Error(problem), { statusCode: 400, code: 'BodyTooDeep' }), undefined);
        return;
      }
      if (request.routeOptions.url === POLICY_ROUTE) {
        done(null, new JsonText(body as string));
        return;
      }
      parseJson(request, body as string, done);
    });
    app.addHook('onRequest', async (request, reply) => {
      const decision = this.auth.decide(header(request, 'authorization'), {
        method: request.method,
        route: request.routeOptions.url,
        params: (request.params ?? {}) as Record<string, unknown>,
        query: (request.query ?? {}) as Record<string, unknown>,
      });
      if (decision.ok) {
        this.principals.set(request, decision.principal);
        return;
      }
      if (decision.status === 401) reply.header('www-authenticate', 'Bearer');
      return reply.code(decision.status).send(errorBody(decision.status === 401 ? 'Unauthorized' : 'Forbidden', decision.message));
    });
    app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
      const status = error.statusCode ?? 500;
      if (status >= 500) this.options.logger?.error({ err: error }, 'request failed');
      const code =
        error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'BodyTooLarge' : error.code === 'BodyTooDeep' ? 'BodyTooDeep' : status >= 500 ? 'InternalError' : 'BadRequest';
      return reply.code(status).send(errorBody(code, error.message, [{ path: ROOT_PATH, message: error.message.toLowerCase() }]));
    });
    app.setNotFoundHandler((request, reply) =>
      reply.code(404).send(errorBody('NotFound', `no route ${request.method} ${request.url.split('?')[0]}`)),
    );

    app.get('/openapi.json', async () => openApiDocument());
    app.get(API_PREFIX, async () => ({ revision: this.store.revision(), kinds: POLICY_KINDS }));
    for (const kind of POLICY_KINDS) this.kindRoutes(kind);
    this.policyRoute();
    app.get(SYNC_PATH, (request, reply) => this.sync(request, reply));
    this.hostRoutes();
  }

  /** A host's view as its agent gets it, and the agents' reports of what they applied. */
  private hostRoutes(): void {
    const app = this.app;
    type HostRequest = FastifyRequest<{ Params: { host: string } }>;
    app.get(VIEW_ROUTE, async (request: HostRequest) => {
      const { view, digest, revision } = this.hub.viewOf(request.params.host);
      return { host: request.params.host, revision, digest, policy: view };
    });
    app.get(`${API_PREFIX}/hostStates`, async () => {
      const names = this.hostStates.hosts(this.store.list('hosts').map((item) => item.name));
      return { value: names.map((host) => this.hostState(host)), revision: this.store.revision() };
    });
    app.get(HOST_STATE_ROUTE, async (request: HostRequest) => this.hostState(request.params.host));
    app.put(HOST_STATE_ROUTE, async (request: HostRequest, reply) => {
      const parsed = parseHostStateReport(request.body);
      if (!parsed.ok) return reply.code(400).send(errorBody('InvalidReport', 'bad host state report', parsed.errors));
      const state = this.hostStates.set(request.params.host, parsed.report);
      if (parsed.report.provisioningState === 'Failed') this.options.logger?.warn({ host: request.params.host, ...state }, 'agent refused a view');
      return { host: request.params.host, ...state, streams: this.hub.streamsOf(request.params.host) };
    });
  }

  private hostState(host: string): Record<string, unknown> {
    const state = this.hostStates.get(host);
    return { host, ...(state ?? { provisioningState: 'Unknown' }), streams: this.hub.streamsOf(host) };
  }

  /** `PUT /networking/v1/policy`: the whole policy, replacing what is stored (full validation). */
  private policyRoute(): void {
    this.app.put(POLICY_ROUTE, { bodyLimit: this.options.policyBodyLimit ?? 64 * 1024 * 1024 }, async (request, reply) => {
      const store = this.store;
      if (store.writeMany === undefined) {
        return reply.code(501).send(errorBody('NotImplemented', 'a whole-policy PUT needs a store that writes many resources at once (SQLite, etcd); on this store write resources one by one'));
      }
      if (!(request.body instanceof JsonText)) return reply.code(400).send(errorBody('BadRequest', 'the body is not a JSON policy document'));
      const verdict = await this.validator.validate(request.body.text);
      if (!verdict.ok) {
        return reply.code(400).send(errorBody('InvalidPolicy', `${verdict.errors.length} problem${verdict.errors.length === 1 ? '' : 's'} in the policy`, verdict.errors));
      }
      // If-Match: "REVISION" (the store revision the document was made from, as `ctl apply` sends
      // it after reading the policy): refused with 412 if the store has moved since. Without it
      // the document alone decides (it replaces everything): a store that moved only changes the diff.
      const base = baseRevisionOf(request.headers['if-match']);
      if (base === null) return reply.code(400).send(errorBody('BadRequest', 'If-Match on the whole policy takes one store revision, e.g. If-Match: "42"'));
      for (let attempt = 0; ; attempt++) {
        const current = this.hub.current();
        if (base !== undefined && current.revision !== base) {
          return reply.code(412).send(errorBody('PreconditionFailed', `the store is at revision ${current.revision}, not ${base}`));
        }
        const writes = policyWrites(current.policy, verdict.resources);
        if (writes.length === 0) return { revision: current.revision, changed: 0 };
        try {
          const revision = await store.writeMany(writes, { baseRevision: current.revision });
          this.hub.publish();
          return { revision, changed: writes.length };
        } catch (error) {
          if (error instanceof StoreConflictError && attempt < WRITE_RETRIES) continue; // with If-Match: 412 above
          if (error instanceof StoreLimitError) return reply.code(413).send(errorBody('TooLarge', error.message));
          throw error;
        }
      }
    });
  }

  private kindRoutes(kind: PolicyKind): void {
    const app = this.app;
    const base = `${API_PREFIX}/${kind}`;
    app.get(base, async () => ({ value: this.store.list(kind).map((item) => envelope(kind, item)), revision: this.store.revision() }));
    app.get(`${base}/:id`, async (request: IdRequest, reply) => {
      const item = this.store.get(kind, request.params.id);
      if (item === undefined) return reply.code(404).send(errorBody('NotFound', `${kind}/${request.params.id} not found`));
      return reply.header('etag', item.etag).send(envelope(kind, item));
    });
    app.put(`${base}/:id`, async (request: IdRequest, reply) => {
      const id = request.params.id;
      for (let attempt = 0; ; attempt++) {
        const failed = preconditionFails(request, this.store.get(kind, id)?.etag);
        if (failed !== undefined) return reply.code(412).send(errorBody('PreconditionFailed', failed));
        const check = checkPut(this.hub.current(), kind, id, request.body);
        if (!check.ok) return sendProblem(reply, check);
        try {
          const stored = await this.store.put(kind, id, check.resource, conditionsOf(request, check.baseRevision));
          this.hub.publish();
          return reply.code(check.existed ? 200 : 201).header('etag', stored.etag).send(envelope(kind, stored));
        } catch (error) {
          if (error instanceof StoreConflictError && attempt < WRITE_RETRIES) continue;
          if (error instanceof PreconditionFailedError) return reply.code(412).send(errorBody('PreconditionFailed', error.message));
          throw error;
        }
      }
    });
    app.delete(`${base}/:id`, async (request: IdRequest, reply) => {
      const id = request.params.id;
      for (let attempt = 0; ; attempt++) {
        const current = this.store.get(kind, id);
        const failed = current === undefined ? undefined : preconditionFails(request, current.etag);
        if (failed !== undefined) return reply.code(412).send(errorBody('PreconditionFailed', failed));
        const check = checkDelete(this.hub.current(), kind, id);
        if (!check.ok) return sendProblem(reply, check);
        try {
          const revision = await this.store.delete(kind, id, conditionsOf(request, check.baseRevision));
          this.hub.publish();
          return reply.send({ resourceId: id, resourceRef: `/${kind}/${id}`, revision });
        } catch (error) {
          if (error instanceof StoreConflictError && attempt < WRITE_RETRIES) continue;
          if (error instanceof PreconditionFailedError) return reply.code(412).send(errorBody('PreconditionFailed', error.message));
          if (error instanceof NotFoundError) return reply.code(404).send(errorBody('NotFound', error.message));
          throw error;
        }
      }
    });
  }

  private sync(request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
    const query = request.query as Record<string, string | undefined>;
    const host = query.host;
    const since = query.since === undefined ? undefined : Number(query.since);
    const errors = [];
    if (host === undefined || host === '') errors.push({ path: 'host', message: 'required' });
    if (since !== undefined && (!Number.isInteger(since) || since < 0)) errors.push({ path: 'since', message: `not a revision: ${query.since}` });
    if (errors.length > 0) return reply.code(400).send(errorBody('BadRequest', 'bad sync request', errors));
    const admission = this.hub.admit(host as string);
    if (!admission.ok) return reply.code(admission.status).header('retry-after', '5').send(errorBody('TooManyStreams', admission.message));
    reply.hijack();
    const res = reply.raw;
    request.socket.setNoDelay(true);
    request.socket.setKeepAlive(true, 10_000);
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    const principal = this.principals.get(request);
    const valid = principal === undefined || principal.role === 'admin' ? undefined : () => this.auth.stillValid(principal);
    const attach = { host: host as string, ...(valid === undefined ? {} : { valid }), ...(since === undefined ? {} : { since }), ...(query.digest === undefined ? {} : { digest: query.digest }) };
    this.hub.attach(attach, res);
    return undefined;
  }

  async listen(host: string, port: number): Promise<ListenAddress> {
    await this.app.listen({ host, port });
    const address = this.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('controller: no TCP address');
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const scheme = this.options.tls === undefined ? 'http' : 'https';
    return { host: address.address, port: address.port, url: `${scheme}://${shown}:${address.port}` };
  }

  /** Stop: end the agents' streams (they reconnect elsewhere or later), close the server and the store. */
  async close(): Promise<void> {
    this.hub.close(false);
    await this.app.close();
    await this.validator.close();
    await this.store.close();
    this.options.tokens?.close();
  }

  /** Stop as a crash would: sockets destroyed mid-stream, no goodbye (for tests). */
  async crash(): Promise<void> {
    this.hub.close(true);
    this.app.server.closeAllConnections();
    await this.app.close();
    await this.validator.close();
    await this.store.close();
    this.options.tokens?.close();
  }
}

/** The whole policy's If-Match: undefined when absent, the revision, or null when it is not one. */
function baseRevisionOf(header: string | string[] | undefined): number | undefined | null {
  if (header === undefined) return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(Array.isArray(header) ? header.join(',') : header);
  return match === null ? null : Number(match[1]);
}
