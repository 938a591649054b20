import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { app } from '../../functions/http/app.ts';

const REDOCLY = join(import.meta.dirname, '../../node_modules/@redocly/cli/bin/cli.js');

interface Operation {
  operationId?: string;
  responses: Record<string, { content?: { 'application/json'?: { schema?: { $ref?: string } } } }>;
}
type Doc = { servers?: { url: string }[]; paths: Record<string, Record<string, Operation>> };

describe('the OpenAPI document (/openapi.json)', () => {
  let dir: string;
  let doc: Doc;
  let operations: [string, Operation][];
  beforeAll(async () => {
    const res = await app.request('/openapi.json');
    expect(res.status).toBe(200);
    doc = (await res.json()) as Doc;
    operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(
        ([method, op]) => [`${method.toUpperCase()} ${path}`, op] as [string, Operation],
      ),
    );
    dir = mkdtempSync(join(tmpdir(), 'switchyard-openapi-'));
    writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names its servers', () => {
    expect(doc.servers?.length).toBeGreaterThan(0);
  });

  it('gives every operation a unique operationId', () => {
    expect(operations.length).toBe(10);
    const ids = operations.map(([, op]) => op.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('declares the auth errors on every operation and every error with the Error body', () => {
    for (const [name, op] of operations) {
      const errorStatuses = Object.keys(op.responses).filter((s) => Number(s) >= 400);
      expect(errorStatuses, name).toEqual(expect.arrayContaining(['401', '403']));
      for (const s of errorStatuses) {
        expect(op.responses[s]!.content?.['application/json']?.schema?.$ref, `${name} ${s}`).toBe(
          '#/components/schemas/Error',
        );
      }
    }
    const statuses = (name: string) => Object.keys(operations.find(([n]) => n === name)![1].responses);
    expect(statuses('POST /v1/sessions')).toEqual(expect.arrayContaining(['400', '409', '503']));
    expect(statuses('GET /v1/sessions/{id}/resume')).toEqual(expect.arrayContaining(['404', '410']));
    expect(statuses('POST /v1/branches')).toEqual(expect.arrayContaining(['400', '409']));
  });

  it('passes `redocly lint` with the recommended rules: no error, no warning', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [REDOCLY, 'lint', join(dir, 'openapi.json'), '--format=json', '--extends=recommended'],
        { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
        (err, stdout, stderr) => (stdout ? resolve(stdout) : reject(err ?? new Error(stderr))),
      ),
    );
    const report = JSON.parse(out) as { totals: { errors: number; warnings: number }; problems: unknown[] };
    expect(report.problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });
});
