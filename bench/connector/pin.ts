import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * `--pin`: gives the proxy under test a core of its own, the load generator and the service on
 * the other cores, every proxy (one runs at a time) on the last one. Unpinned, where the
 * scheduler puts four busy processes on two cores moves a proxy's throughput by up to 2× from one
 * round to the next. Pinned, the rounds agree better, but every message then crosses cores and the
 * proxies pay for it unequally (nginx's CPU per request doubled in a trial), so the default is
 * unpinned. Returns a line for the report, or why it did not pin.
 */
export function pinCpus(load: number[], proxies: number[]): string {
  const cores = availableParallelism();
  if (cores < 2) return 'not pinned (one core)';
  const proxyCore = cores - 1;
  const loadCores = cores === 2 ? '0' : `0-${cores - 2}`;
  try {
    // -a: every thread of the process (libuv's pool, V8's helpers), not only the main one.
    for (const pid of load)
      execFileSync('taskset', ['-a', '-p', '-c', loadCores, String(pid)], { stdio: 'ignore' });
    for (const pid of proxies)
      execFileSync('taskset', ['-a', '-p', '-c', String(proxyCore), String(pid)], { stdio: 'ignore' });
  } catch (err) {
    return `not pinned (taskset failed: ${(err as Error).message.split('\n')[0]})`;
  }
  return `pinned: the load generator and the service on CPU ${loadCores}, each proxy on CPU ${proxyCore} (taskset)`;
}
