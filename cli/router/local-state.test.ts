import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { findStateFile, readLocalState, resolveRouter } from './local-state.ts';

describe('the local state file', () => {
  let root: string;
  const state = {
    httpUrl: 'http://127.0.0.1:8787',
    wsUrl: 'ws://127.0.0.1:8787/ws',
    developerToken: 'syd_file',
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'switchyard-state-'));
    mkdirSync(join(root, '.switchyard'));
    writeFileSync(join(root, '.switchyard/local.json'), JSON.stringify(state));
    mkdirSync(join(root, 'src/deep/er'), { recursive: true });
    for (const name of ['SWITCHYARD_STATE_FILE', 'SWITCHYARD_ROUTER', 'SWITCHYARD_TOKEN', 'SWITCHYARD_WS'])
      vi.stubEnv(name, undefined);
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
    rmSync(root, { recursive: true, force: true });
  });

  it('is found from any subdirectory of the project, as git finds .git', () => {
    expect(findStateFile(join(root, 'src/deep/er'))).toBe(join(root, '.switchyard/local.json'));
    expect(findStateFile(root)).toBe(join(root, '.switchyard/local.json'));
  });

  it('is not found outside the project', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'switchyard-elsewhere-'));
    try {
      expect(findStateFile(elsewhere)).toBeUndefined();
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('is the one SWITCHYARD_STATE_FILE names, relative to the working directory', () => {
    expect(findStateFile(join(root, 'src'), { SWITCHYARD_STATE_FILE: 'other.json' })).toBe(
      join(root, 'src/other.json'),
    );
  });

  it('names itself when it is broken, instead of passing for absent', () => {
    writeFileSync(join(root, '.switchyard/local.json'), '{ "httpUrl": ');
    expect(() => readLocalState(join(root, '.switchyard/local.json'))).toThrow(
      /cannot read .*local\.json .*restart the local router/,
    );
  });

  it('gives the router and token from a subdirectory, and says where the token came from', () => {
    vi.spyOn(process, 'cwd').mockReturnValue(join(root, 'src/deep'));
    const target = resolveRouter({});
    expect(target).toMatchObject({ httpUrl: state.httpUrl, wsUrl: state.wsUrl, token: 'syd_file' });
    expect(target.tokenSource).toEqual({ file: join(root, '.switchyard/local.json') });
  });

  it('prefers --token to SWITCHYARD_TOKEN to the file, and records which', () => {
    vi.spyOn(process, 'cwd').mockReturnValue(root);
    vi.stubEnv('SWITCHYARD_TOKEN', 'syd_env');
    expect(resolveRouter({}).tokenSource).toBe('SWITCHYARD_TOKEN');
    expect(resolveRouter({ token: 'syd_flag' })).toMatchObject({ token: 'syd_flag', tokenSource: '--token' });
  });

  it('says which state file is missing when one was named', () => {
    vi.spyOn(process, 'cwd').mockReturnValue(root);
    vi.stubEnv('SWITCHYARD_STATE_FILE', 'missing.json');
    expect(() => resolveRouter({})).toThrow(
      /state file .*missing\.json \(from --state-file or SWITCHYARD_STATE_FILE\) does not exist/,
    );
  });
});
