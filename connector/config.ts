import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { describeJsonError } from '../shared/config/json-position.ts';
import { ValidationError } from '../shared/errors/errors.ts';
import { DatabaseConfigSchema } from './branches/config.ts';

/**
 * The connector's own config: the services it fronts in its cluster, what of them a developer
 * may read (env, files), where outgoing connections may go, and the databases it can branch.
 */
const ServiceConfigSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a service name (lowercase letters, digits, "-")'),
    /** Where the connector listens for the service's traffic (the Service/Ingress points here). */
    ingress: z
      .object({
        port: z.number().int().min(0).max(65535),
        host: z.string().default('0.0.0.0'),
      })
      .strict(),
    /** The real service, where unmatched (and mirrored) requests go. */
    upstream: z.url({ protocol: /^https?$/ }),
    /**
     * How the connector speaks to the upstream: `http1` (HTTP/1.1, keep-alive pool), or `h2c`
     * (HTTP/2 by prior knowledge over cleartext, for a gRPC or other HTTP/2 server). Clients may
     * use either protocol on the ingress whatever this says; upgrades always go over HTTP/1.1.
     */
    upstreamProtocol: z.enum(['http1', 'h2c']).default('http1'),
    /** How long the upstream may take to start its answer (status and headers) before 504. */
    upstreamTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
    /** Env vars a developer gets for this service (values, or `{fromEnv: NAME}` read from the connector's env). */
    env: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
        z.union([z.string(), z.object({ fromEnv: z.string() })]),
      )
      .default({}),
    /** Files and directories a developer may read (absolute paths; a directory allows what is under it). */
    files: z.array(z.string().startsWith('/', 'an absolute path')).default([]),
    /** Databases the developer may branch (see docs/database-branching.md). */
    databases: z.array(DatabaseConfigSchema).default([]),
  })
  .strict()
  .refine((s) => s.upstreamProtocol !== 'h2c' || s.upstream.startsWith('http:'), {
    message: "upstreamProtocol 'h2c' is cleartext HTTP/2: the upstream must be an http:// URL",
    path: ['upstreamProtocol'],
  });
export type ServiceConfig = z.infer<typeof ServiceConfigSchema>;

/** Where `/healthz` and `/readyz` are served when the config names no admin port. */
export const DEFAULT_ADMIN_PORT = 9090;
export const DEFAULT_DRAIN_MS = 5_000;
export const DEFAULT_GRACE_MS = 25_000;

const AdminSchema = z
  .object({
    port: z.number().int().min(0).max(65535).default(DEFAULT_ADMIN_PORT),
    host: z.string().default('0.0.0.0'),
  })
  .strict();

/**
 * What SIGTERM does (lifecycle/shutdown.ts): for `drainMs` readiness is false while everything is
 * still served, so the endpoints (kube-proxy, load balancers) stop sending new connections; then
 * the ingress stops accepting and in-flight requests finish. The process is gone within
 * `graceMs` of the signal, which must stay under the pod's terminationGracePeriodSeconds.
 */
const ShutdownSchema = z
  .object({
    drainMs: z.number().int().min(0).max(300_000).default(DEFAULT_DRAIN_MS),
    graceMs: z.number().int().min(1_000).max(3_600_000).default(DEFAULT_GRACE_MS),
  })
  .strict()
  .refine((s) => s.drainMs < s.graceMs, {
    message: 'drainMs must be shorter than graceMs (in-flight requests need time after the drain)',
  });

export const ConnectorConfigSchema = z
  .object({
    services: z.array(ServiceConfigSchema).default([]),
    outgoing: z
      .object({
        /** `host:port` patterns; `*` as a whole host label or port is a wildcard (`*.svc.cluster.local:5432`, `db:*`). */
        allow: z
          .array(
            z
              .string()
              .regex(/^[^:\s]+:(\*|\d{1,5})$/, '"host:port", "*" allowed for a host label or the port'),
          )
          .default([]),
      })
      .strict()
      .default({ allow: [] }),
    /**
     * Names this connector resolves itself, before DNS, as a Pod's `hostAliases` do: for
     * `switchyard resolve` and for outgoing connections (which `outgoing.allow` still checks by
     * the name asked for).
     */
    hosts: z
      .record(
        z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, 'a host name'),
        z.union([z.ipv4(), z.ipv6()]),
      )
      .default({})
      // Host names are case-insensitive; lookups use the lower-case form.
      .transform((h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))),
    /** How long a stolen request waits for the developer before going to the upstream. */
    requestDeadlineMs: z.number().int().min(100).max(300_000).default(10_000),
    /**
     * Largest request body the connector buffers for a developer (a stolen request, a mirrored
     * copy). Bigger stolen requests go to the upstream whole; bigger mirrored ones get no copy.
     * Requests no session wants stream through with no limit.
     */
    maxBodyBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(8 * 1024 * 1024),
    /** The admin port: `/healthz` (liveness) and `/readyz` (readiness), apart from the ingress. */
    admin: AdminSchema.default({ port: DEFAULT_ADMIN_PORT, host: '0.0.0.0' }),
    shutdown: ShutdownSchema.default({ drainMs: DEFAULT_DRAIN_MS, graceMs: DEFAULT_GRACE_MS }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.admin.port !== 0 && c.services.some((s) => s.ingress.port === c.admin.port)) {
      ctx.addIssue({
        code: 'custom',
        message: `port ${c.admin.port} is both a service's ingress and the admin port`,
        path: ['admin', 'port'],
      });
    }
    const names = c.services.map((s) => s.name);
    for (const n of new Set(names)) {
      if (names.filter((x) => x === n).length > 1) {
        ctx.addIssue({ code: 'custom', message: `service '${n}' is listed twice`, path: ['services'] });
      }
    }
  });
export type ConnectorConfig = z.infer<typeof ConnectorConfigSchema>;

export function parseConnectorConfig(input: unknown, source = 'connector config'): ConnectorConfig {
  const r = ConnectorConfigSchema.safeParse(input);
  if (!r.success) {
    throw new ValidationError(
      `${source} is invalid:\n${r.error.issues.map((i) => `  - ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')}`,
    );
  }
  return r.data;
}

export function loadConnectorConfig(file: string): ConnectorConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ValidationError(
      `cannot read connector config ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
  try {
    return parseConnectorConfig(JSON.parse(text), file);
  } catch (err) {
    if (err instanceof SyntaxError)
      throw new ValidationError(
        `connector config ${file} is not valid JSON, ${describeJsonError(text, err)}`,
      );
    throw err;
  }
}

/** Is `host:port` on the allow-list? */
export function outgoingAllowed(allow: string[], host: string, port: number): boolean {
  const h = host.toLowerCase();
  return allow.some((entry) => {
    const i = entry.lastIndexOf(':');
    const ph = entry.slice(0, i).toLowerCase();
    const pp = entry.slice(i + 1);
    if (pp !== '*' && Number(pp) !== port) return false;
    if (ph === '*') return true;
    const pl = ph.split('.');
    const hl = h.split('.');
    return pl.length === hl.length && pl.every((l, k) => l === '*' || l === hl[k]);
  });
}
