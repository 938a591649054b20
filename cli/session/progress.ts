/** Progress lines on stderr, so stdout stays clean for what a command prints (env, JSON). */
export interface Progress {
  step(text: string): void;
  info(text: string): void;
  warn(text: string): void;
}

export function stderrProgress(quiet = false): Progress {
  const write = (prefix: string, text: string) => {
    if (!quiet) process.stderr.write(`${prefix}${text}\n`);
  };
  return {
    step: (t) => write('… ', t),
    info: (t) => write('✓ ', t),
    warn: (t) => process.stderr.write(`! ${t}\n`),
  };
}

/** A connector replica as `/v1/clusters` lists it. */
export interface ReplicaView {
  id: string;
  stateful: boolean;
}

/** One cluster's line of a session's progress, with the connector replicas serving it. */
export function clusterProgressLine(
  id: string,
  child: { state: string; roles: string[]; error?: { message: string } },
  replicas?: ReplicaView[],
): string {
  const base = `${id} (${child.roles.join(', ')}): ${child.state}${child.error ? ` (${child.error.message})` : ''}`;
  if (!replicas?.length) return base;
  const names = replicas.map((r) => (r.stateful ? `${r.id} (stateful)` : r.id)).join(', ');
  return `${base} · ${replicas.length} replica${replicas.length > 1 ? 's' : ''}: ${names}`;
}
