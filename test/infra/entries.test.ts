import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HANDLER_ENTRIES, type HandlerName, PROJECT_ROOT } from '../../infra/constructs/handler-function.ts';

const LOCAL_HANDLERS = join(PROJECT_ROOT, 'infra/local/handlers.ts');

/** The files infra/local/handlers.ts imports, as absolute paths. */
function localRuntimeImports(): string[] {
  const source = readFileSync(LOCAL_HANDLERS, 'utf8');
  return [...source.matchAll(/import\('([^']+)'\)/g)].map((m) => resolve(dirname(LOCAL_HANDLERS), m[1]!));
}

describe('handler entry points', () => {
  it.each(Object.entries(HANDLER_ENTRIES))(
    '%s: %s exists and exports a handler function',
    async (_name, entry) => {
      const file = join(PROJECT_ROOT, entry);
      expect(existsSync(file)).toBe(true);
      const mod = (await import(pathToFileURL(file).href)) as { handler?: unknown };
      expect(typeof mod.handler).toBe('function');
    },
  );

  it.each(['ws', 'splitter', 'reconciler'] satisfies HandlerName[])(
    '%s: the local runtime loads the very file Lambda runs',
    (name) => {
      expect(localRuntimeImports()).toContain(join(PROJECT_ROOT, HANDLER_ENTRIES[name]));
    },
  );

  it('http: Lambda runs the Lambda adapter around the app the local runtime serves', () => {
    const app = join(PROJECT_ROOT, 'functions/http/app.ts');
    expect(localRuntimeImports()).toContain(app);
    const entry = readFileSync(join(PROJECT_ROOT, HANDLER_ENTRIES.http), 'utf8');
    expect(entry).toMatch(/import \{ app \} from '\.\/app\.ts'/);
    expect(entry).toMatch(/export const handler = handle\(app\)/);
  });
});
