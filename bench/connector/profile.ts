import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a sample's time goes, by the function it was taken in (self time). */
function category(fn: string, url: string): string | undefined {
  if (fn === '(idle)') return undefined;
  if (/esm|tsx|loader|bootstrap|realm|cjs-module-lexer/.test(url) || fn === 'compileSourceTextModule')
    return 'start-up (module loading)';
  if (['writev', 'writeUtf8String', 'writeLatin1String', 'writeBuffer'].includes(fn))
    return 'socket writes (system calls)';
  if (/_http_(server|outgoing|incoming|common)/.test(url)) return "Node's HTTP server";
  if (/node:(net|events|internal\/stream|internal\/process|internal\/timers|timers|async_hooks)/.test(url))
    return 'Node streams, sockets, events, ticks';
  if (url.includes('connector/ingress/')) return 'ingress code (routing, headers, upstream client)';
  if (url.includes('shared/protocol/') || url.includes('connector/connector.ts'))
    return 'subscription matching';
  if (fn === '(garbage collector)') return 'garbage collector';
  return 'other (V8, natives)';
}

/**
 * Self time by category, as shares of the busy (non-idle) samples of the newest main-thread
 * profile in `dir` (tsx's loader runs in a worker thread, which writes a profile too).
 */
export function profileBreakdown(dir: string): { category: string; share: number }[] {
  const newest = readdirSync(dir)
    .filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f))
    .sort()
    .pop();
  if (!newest) return [];
  const p = JSON.parse(readFileSync(join(dir, newest), 'utf8')) as CpuProfile;
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const byCategory = new Map<string, number>();
  let busy = 0;
  p.samples.forEach((id, i) => {
    const n = nodes.get(id)!;
    const c = category(n.callFrame.functionName, n.callFrame.url);
    if (!c) return;
    const t = p.timeDeltas[i] ?? 0;
    byCategory.set(c, (byCategory.get(c) ?? 0) + t);
    busy += t;
  });
  return [...byCategory]
    .map(([category, t]) => ({ category, share: t / busy }))
    .sort((a, b) => b.share - a.share);
}
