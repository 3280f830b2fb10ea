// /openapi.json is a valid OpenAPI 3.1 document (checked by a standard parser) that describes exactly the
// routes the app serves, every status and problem code, and one envelope variant per registered command type.
import { compileErrors, validate } from '@readme/openapi-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROBLEMS } from '../../src/http/problem.ts';
import { createDefaultRegistry } from '../../src/domains/index.ts';
import { useTestSystem } from '../helpers/fixture.ts';

interface Operation {
  operationId: string;
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema: { oneOf?: { properties: { type: { enum: string[] } } }[] } }> };
  responses: Record<string, { description: string; headers?: Record<string, unknown>; content?: Record<string, unknown> }>;
  security?: unknown[];
}
interface Document {
  openapi: string;
  info: { description: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

const { system } = useTestSystem({ roles: { api: true, worker: false } });
let document: Document;

beforeAll(async () => {
  const res = await Promise.resolve(system.app!.request('/openapi.json'));
  expect(res.status).toBe(200);
  document = (await res.json()) as Document;
});

const operations = () => Object.entries(document.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(document.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(document) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('documents exactly the routes the app serves', () => {
    // One entry per handler (a route with middleware appears more than once).
    const served = [
      ...new Set(system.app!.routes.filter((route) => route.method !== 'ALL').map((route) => `${route.method} ${route.path.replaceAll(/:(\w+)/g, '{$1}')}`)),
    ].sort();
    const documented = operations()
      .map(({ path, method }) => `${method.toUpperCase()} ${path}`)
      .sort();
    expect(documented).toEqual(served);
    expect(documented).toContain('POST /v1/commands/{id}/replay');
    expect(documented).toContain('GET /v1/dead-letters');
    expect(new Set(operations().map(({ op }) => op.operationId)).size).toBe(documented.length);
  });

  it('documents every problem code, and on each route the statuses it can answer', () => {
    for (const code of Object.keys(PROBLEMS)) expect(document.info.description).toContain(`\`${code}\``);
    const submit = document.paths['/v1/commands']!['post']!;
    expect(Object.keys(submit.responses).sort()).toEqual(['200', '202', '400', '401', '403', '413', '415', '422', '500', '503']);
    for (const code of ['invalid_request', 'idempotency_key_missing', 'idempotency_key_mismatch', 'unknown_command_type', 'invalid_payload', 'version_mismatch']) {
      expect(submit.responses['400']!.description).toContain(`\`${code}\``);
    }
    expect(Object.keys(submit.responses['202']!.headers ?? {})).toEqual(expect.arrayContaining(['Location', 'Idempotent-Replayed', 'Preference-Applied']));
    expect(submit.parameters?.map((p) => `${p.in}:${p.name}`).sort()).toEqual(['header:Idempotency-Key', 'header:If-Match', 'header:Prefer']);
    expect(Object.keys(document.paths['/v1/commands/{id}/replay']!['post']!.responses).sort()).toEqual(['202', '401', '403', '404', '409', '500', '503']);
    expect(Object.keys(document.paths['/v1/accounts/{id}']!['get']!.responses['200']!.headers ?? {})).toEqual(['ETag']);
    for (const { path, op } of operations()) {
      // Public: the health probes, and the dashboard's page (it holds no data; its fetches need the key).
      if (path.startsWith('/health/') || path === '/dashboard') {
        expect(op.security).toEqual([]);
        continue;
      }
      expect(Object.keys(op.responses), path).toEqual(expect.arrayContaining(['401', '500', '503']));
      expect(op.responses['401']!.headers).toHaveProperty('WWW-Authenticate');
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) >= 400) expect(Object.keys(response.content ?? {}), `${path} ${status}`).toEqual(['application/problem+json']);
      }
    }
    expect(document.components.securitySchemes).toHaveProperty('apiKey');
  });

  it('describes the submission body from the registry: one envelope per command type with its own payload', () => {
    const body = document.paths['/v1/commands']!['post']!.requestBody!.content['application/json']!.schema;
    const types = body.oneOf!.map((variant) => variant.properties.type.enum[0]).sort();
    expect(types).toEqual([...createDefaultRegistry().types].sort());
    const credit = body.oneOf!.find((variant) => variant.properties.type.enum[0] === 'account.credit') as unknown as {
      required: string[];
      properties: { payload: { properties: { amount: { type: string; minimum: number } }; additionalProperties: boolean } };
    };
    expect(credit.required).toEqual(expect.arrayContaining(['type', 'entityId', 'payload']));
    expect(credit.properties.payload).toMatchObject({ properties: { amount: { type: 'integer', minimum: 1 } }, additionalProperties: false });
    expect(Object.keys(document.components.schemas)).toEqual(
      expect.arrayContaining(['CommandStatus', 'Problem', 'Account', 'Order', 'RedPacket', 'DeadLetterPage', 'BatchResponse']),
    );
  });
});

describe('/docs', () => {
  it('is swagger-ui served from this server, pointed at /openapi.json, with nothing fetched from elsewhere', async () => {
    const res = await Promise.resolve(system.app!.request('/docs'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/https?:|\*|'unsafe-eval'/);
    const html = await res.text();
    expect(html).toContain("url: '/openapi.json'");
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(sources.length).toBeGreaterThanOrEqual(3);
    for (const source of sources) expect(source).toMatch(/^\/(?:docs\/assets\/|openapi\.json)/);
    expect(html).not.toMatch(/@import|url\(/i);

    for (const source of sources.filter((s) => s.startsWith('/docs/assets/'))) {
      const asset = await Promise.resolve(system.app!.request(source, { headers: { 'accept-encoding': 'gzip' } }));
      expect(asset.status, source).toBe(200);
      expect(asset.headers.get('content-type'), source).toMatch(source.includes('.css') ? /^text\/css/ : source.includes('.js') ? /^text\/javascript/ : /^image\/png$/);
      expect(asset.headers.get('cache-control'), source).toBe('public, max-age=31536000, immutable');
      expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
      if (!source.includes('.png')) expect(asset.headers.get('content-encoding'), source).toBe('gzip');
    }
    expect((await Promise.resolve(system.app!.request('/docs/assets/package.json'))).status).toBe(404);
    expect((await Promise.resolve(system.app!.request('/docs/assets/..%2Fpackage.json'))).status).toBe(404);
    const unversioned = await Promise.resolve(system.app!.request('/docs/assets/swagger-ui.css'));
    expect(unversioned.headers.get('cache-control')).toBe('no-cache');
    expect(unversioned.headers.get('content-encoding')).toBeNull();
  });
});
