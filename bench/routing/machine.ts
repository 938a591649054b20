import { cpus, loadavg, release, totalmem, type } from 'node:os';

/** What the figures were measured on; the load average is taken when the run starts. */
export interface Machine {
  os: string;
  cpu: string;
  cores: number;
  memGiB: number;
  node: string;
  loadAtStart: string;
}

export function machine(): Machine {
  const cpu = cpus();
  return {
    os: `${type()} ${release()}`,
    cpu: cpu[0]?.model.trim() ?? 'unknown CPU',
    cores: cpu.length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAtStart: loadavg()
      .map((l) => l.toFixed(2))
      .join(' / '),
  };
}
