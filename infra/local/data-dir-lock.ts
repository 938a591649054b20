import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SwitchyardError } from '../../shared/errors/errors.ts';

/**
 * One runtime per data directory. LevelDB allows a single opener, and dynalite reports a second
 * opener only by throwing from inside a request, which kills the process; so the runtime takes
 * this lock first and refuses to start with a message that names the other process.
 */
export class DataDirInUseError extends SwitchyardError {
  constructor(dataDir: string, pid: number) {
    super(
      'data_dir_in_use',
      `the data directory ${dataDir} is in use by another switchyard dev (pid ${pid}): stop it, or pass --data-dir <dir> or --memory`,
      409,
      { dataDir, pid },
    );
  }
}

/** Locks held by this process (tests start several runtimes in one process). */
const heldHere = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface DataDirLock {
  release(): void;
}

export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'switchyard.pid');
  if (heldHere.has(file)) throw new DataDirInUseError(dataDir, process.pid);
  let owner: number | undefined;
  try {
    owner = Number.parseInt(readFileSync(file, 'utf8'), 10);
  } catch {
    owner = undefined;
  }
  // A lock left by a process that died (kill -9, crash) is stale: take it over.
  if (owner && owner !== process.pid && alive(owner)) throw new DataDirInUseError(dataDir, owner);
  writeFileSync(file, String(process.pid));
  heldHere.add(file);
  return {
    release() {
      heldHere.delete(file);
      rmSync(file, { force: true });
    },
  };
}
