import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectorConfig, parseConnectorConfig } from '../../connector/config.ts';
import { fileList, fileRead, fileStat } from '../../connector/stateful.ts';
import { ERROR_TEXT_MAX } from '../../shared/protocol/fields.ts';

/**
 * The connector's file operations against a real directory tree:
 *
 *   root/secret.txt                      outside the allow-list
 *   root/allowed/a.txt, sub/             the allow-list (and what is in it)
 *   root/allowed/link-in -> a.txt        a link that stays inside
 *   root/allowed/link-out -> ../secret.txt, dangling-out -> ../missing.txt, dir-out -> ..
 *   root/alias -> allowed                the allow-list named through a link
 */
let root: string;
let config: ConnectorConfig;
let aliasConfig: ConnectorConfig;

const configFor = (files: string[]) =>
  parseConnectorConfig({
    services: [{ name: 'api', ingress: { port: 0 }, upstream: 'http://127.0.0.1:9', files }],
  });

/** The code and text an operation fails with, the path in the text replaced by `<path>`. */
async function refusal(op: Promise<unknown>, path: string): Promise<{ code: string; message: string }> {
  try {
    await op;
  } catch (err) {
    const e = err as { code: string; message: string };
    return { code: e.code, message: e.message.replace(JSON.stringify(path), '<path>') };
  }
  throw new Error(`${path} was not refused`);
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'switchyard-files-'));
  const allowed = join(root, 'allowed');
  mkdirSync(join(allowed, 'sub'), { recursive: true });
  writeFileSync(join(allowed, 'a.txt'), 'inside');
  writeFileSync(join(root, 'secret.txt'), 'outside');
  symlinkSync('a.txt', join(allowed, 'link-in'));
  symlinkSync('../secret.txt', join(allowed, 'link-out'));
  symlinkSync('../missing.txt', join(allowed, 'dangling-out'));
  symlinkSync('..', join(allowed, 'dir-out'));
  symlinkSync('allowed', join(root, 'alias'));
  config = configFor([allowed]);
  aliasConfig = configFor([join(root, 'alias')]);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('connector file access: no existence oracle outside the allow-list', () => {
  // Paths under the test's root (made in beforeAll) unless absolute.
  const at = (p: string) => (p.startsWith('/') ? p : join(root, p));

  it.each([
    ['a file outside, and a missing one', 'secret.txt', 'missing.txt'],
    ['system files', '/etc/passwd', '/etc/passwd-missing-switchyard'],
    ['".." out of the allowed directory', 'allowed/../secret.txt', 'allowed/../missing.txt'],
    ['a link out, and a dangling link out', 'allowed/link-out', 'allowed/dangling-out'],
    ['through a linked directory', 'allowed/dir-out/secret.txt', 'allowed/dir-out/missing.txt'],
  ])('refuses %s with the same forbidden_path', async (_what, existing, missing) => {
    for (const op of [fileStat, fileList, fileRead] as const) {
      // Act
      const a = await refusal(op(config, 'api', at(existing)), at(existing));
      const b = await refusal(op(config, 'api', at(missing)), at(missing));

      // Assess
      expect(a.code).toBe('forbidden_path');
      expect(b).toEqual(a);
    }
  });

  it('answers not_found only for a missing path inside the allow-list', async () => {
    const missing = join(root, 'allowed/nope.txt');
    expect((await refusal(fileStat(config, 'api', missing), missing)).code).toBe('not_found');
    const deeper = join(root, 'allowed/a.txt/below');
    expect((await refusal(fileStat(config, 'api', deeper), deeper)).code).toBe('not_found');
  });

  it('follows links that stay inside, and accepts the allowed tree by its linked or its real name', async () => {
    expect(await fileStat(config, 'api', join(root, 'allowed/link-in'))).toMatchObject({
      type: 'file',
      size: 6,
    });
    expect(await fileStat(aliasConfig, 'api', join(root, 'alias/a.txt'))).toMatchObject({ type: 'file' });
    expect(await fileStat(aliasConfig, 'api', join(root, 'allowed/a.txt'))).toMatchObject({ type: 'file' });
  });
});

describe('connector file access: file system errors as protocol codes', () => {
  it('answers file.list on a regular file with not_a_directory', async () => {
    const file = join(root, 'allowed/a.txt');
    expect(await refusal(fileList(config, 'api', file), file)).toEqual({
      code: 'not_a_directory',
      message: '<path> is not a directory',
    });
  });

  it('answers file.read on a directory with is_a_directory', async () => {
    const dir = join(root, 'allowed/sub');
    expect((await refusal(fileRead(config, 'api', dir), dir)).code).toBe('is_a_directory');
  });

  it('reads and lists what is allowed', async () => {
    expect(await fileRead(config, 'api', join(root, 'allowed/a.txt'))).toEqual({
      data: Buffer.from('inside').toString('base64'),
      eof: true,
    });
    const names = (await fileList(config, 'api', join(root, 'allowed'))).map((e) => e.name).sort();
    expect(names).toEqual(['a.txt', 'dangling-out', 'dir-out', 'link-in', 'link-out', 'sub']);
  });

  it('keeps a refusal of a 4,000-char path short enough for an error frame', async () => {
    const long = `/${'x'.repeat(4000)}`;
    const { code, message } = await refusal(fileStat(config, 'api', long), long);
    expect(code).toBe('forbidden_path');
    expect(message.length).toBeLessThan(ERROR_TEXT_MAX);
  });
});
