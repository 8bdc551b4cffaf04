/**
 * The OpenAPI 3.1 document served at /openapi.json: paths written here, resource schemas generated
 * from the one policy schema (zod, input side), so the document cannot drift from validation.
 */
import { z } from 'zod';
import { POLICY_KINDS, SYNC_PATH } from '../agent/controller-sync-protocol.js';
import type { PolicyKind } from '../agent/controller-sync-protocol.js';
import { AccessControlListSchema, HostSchema, NatSchema, NetworkInterfaceSchema, VirtualNetworkSchema, VirtualSwitchSchema } from '../policy/schema.js';
import { API_PREFIX } from './envelope.js';

const SCHEMAS: Record<PolicyKind, z.ZodType> = {
  hosts: HostSchema,
  virtualNetworks: VirtualNetworkSchema,
  networkInterfaces: NetworkInterfaceSchema,
  accessControlLists: AccessControlListSchema,
  switches: VirtualSwitchSchema,
  nats: NatSchema,
};

const TITLES: Record<PolicyKind, string> = {
  hosts: 'Host',
  virtualNetworks: 'VirtualNetwork',
  networkInterfaces: 'NetworkInterface',
  accessControlLists: 'AccessControlList',
  switches: 'VirtualSwitch',
  nats: 'Nat',
};

function resourceSchema(kind: PolicyKind): Record<string, unknown> {
  const schema = z.toJSONSchema(SCHEMAS[kind], { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete schema.$schema;
  // `name` may be left out of a PUT body: the id in the path fills it.
  schema.required = (schema.required as string[] | undefined)?.filter((field) => field !== 'name');
  return schema;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const problem = (description: string) => ({ description, ...json(ref('Error')) });

function kindPaths(kind: PolicyKind): Record<string, unknown> {
  const title = TITLES[kind];
  const id = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
  const ifMatch = { name: 'If-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'only if the etag still matches (412 otherwise)' };
  return {
    [`${API_PREFIX}/${kind}`]: {
      get: { summary: `list ${kind}`, responses: { 200: { description: 'all of them', ...json({ type: 'object', properties: { value: { type: 'array', items: ref(`${title}Envelope`) }, revision: { type: 'integer' } } }) } } },
    },
    [`${API_PREFIX}/${kind}/{id}`]: {
      parameters: [id],
      get: { summary: `get one of ${kind}`, responses: { 200: { description: 'found', ...json(ref(`${title}Envelope`)) }, 404: problem('no such resource') } },
      put: {
        summary: `create or replace one of ${kind}`,
        security: [{ bearer: [] }],
        parameters: [ifMatch, { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string', enum: ['*'] }, description: 'create only' }],
        requestBody: { required: true, ...json({ oneOf: [ref(title), { type: 'object', properties: { resourceId: { type: 'string' }, properties: ref(title) }, required: ['properties'] }] }) },
        responses: {
          200: { description: 'replaced', ...json(ref(`${title}Envelope`)) },
          201: { description: 'created', ...json(ref(`${title}Envelope`)) },
          400: problem('invalid resource or a reference to a missing one; every problem by field path'),
          401: problem('no bearer token'),
          403: problem('wrong token'),
          409: problem('the change would break resources that use this one'),
          412: problem('If-Match / If-None-Match failed'),
          413: problem('body too large'),
        },
      },
      delete: {
        summary: `delete one of ${kind}`,
        security: [{ bearer: [] }],
        parameters: [ifMatch],
        responses: { 200: { description: 'deleted', ...json({ type: 'object', properties: { resourceId: { type: 'string' }, revision: { type: 'integer' } } }) }, 404: problem('no such resource'), 409: problem('still referenced'), 412: problem('If-Match failed') },
      },
    },
  };
}

export function openApiDocument(): Record<string, unknown> {
  const schemas: Record<string, unknown> = {
    Error: {
      type: 'object',
      required: ['code', 'message', 'errors'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
      },
    },
  };
  let paths: Record<string, unknown> = {};
  for (const kind of POLICY_KINDS) {
    const title = TITLES[kind];
    schemas[title] = resourceSchema(kind);
    schemas[`${title}Envelope`] = {
      type: 'object',
      properties: {
        resourceId: { type: 'string' },
        resourceRef: { type: 'string' },
        etag: { type: 'string' },
        revision: { type: 'integer' },
        provisioningState: { type: 'string', enum: ['Succeeded'] },
        properties: ref(title),
      },
    };
    paths = { ...paths, ...kindPaths(kind) };
  }
  paths[`${API_PREFIX}/policy`] = {
    put: {
      summary: 'replace the whole policy (a policy document: hosts, virtualNetworks, networkInterfaces, ...); fully validated, then the resources that differ are written in one transaction (SQLite or etcd)',
      security: [{ bearer: [] }],
      parameters: [{ name: 'If-Match', in: 'header', required: false, description: 'the store revision the document was made from ("42"): 412 if the store has moved since', schema: { type: 'string' } }],
      requestBody: { required: true, ...json({ type: 'object', properties: Object.fromEntries(POLICY_KINDS.map((kind) => [kind, { type: 'array', items: ref(TITLES[kind]) }])) }) },
      responses: {
        200: { description: 'stored', ...json({ type: 'object', properties: { revision: { type: 'integer' }, changed: { type: 'integer' } } }) },
        400: problem('invalid policy; every problem by path'),
        403: problem('not the admin token'),
        412: problem('If-Match: the store has moved past that revision'),
        413: problem('body too large, or the change too large for one store transaction (etcd: --max-txn-ops, --max-request-bytes)'),
        501: problem('the store cannot write many resources at once'),
      },
    },
  };
  paths[SYNC_PATH] = {
    get: {
      summary: 'agent sync stream: NDJSON snapshot, then deltas and heartbeats (see src/agent/controller-sync-protocol.ts)',
      parameters: [
        { name: 'host', in: 'query', required: true, schema: { type: 'string' } },
        { name: 'since', in: 'query', required: false, schema: { type: 'integer' }, description: 'resume from this revision' },
        { name: 'digest', in: 'query', required: false, schema: { type: 'string' }, description: 'digest of the view held at `since`' },
      ],
      responses: { 200: { description: 'a stream of messages, one JSON object per line', content: { 'application/x-ndjson': {} } } },
    },
  };
  return {
    openapi: '3.1.0',
    info: { title: 'switchyard network controller', version: '1' },
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
