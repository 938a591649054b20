import * as z from 'zod';
import { BranchModeSchema, LogicalDatabaseSchema } from '../../shared/branches/schemas.ts';
import { BranchConfigError } from './errors.ts';

/**
 * A database the connector may branch, declared under a service in the connector config:
 *
 * ```json
 * { "name": "orders", "type": "postgres", "urlEnv": "ORDERS_DATABASE_URL", "appEnv": "DATABASE_URL" }
 * ```
 *
 * The URL is the source database's (host, credentials, database); a branch lives on the same
 * server under another database name. `urlEnv` keeps the credentials out of the config file.
 */
export const DatabaseConfigSchema = z
  .object({
    /** Logical name developers use (`switchyard branch create orders`). */
    name: LogicalDatabaseSchema,
    type: z.enum(['postgres', 'mysql']),
    url: z.string().min(1).optional(),
    /** Name of the connector's env var that holds the URL. */
    urlEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
      .optional(),
    /** The env var the application reads its URL from; a session's env gets the branch URL there. */
    appEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'),
    /**
     * The most a branch of this database may copy: `schema` never copies rows (for a database
     * whose data must not leave it), whatever the request asks; `all` (default) lets the request decide.
     */
    mode: BranchModeSchema.optional(),
  })
  .strict()
  .refine((d) => (d.url === undefined) !== (d.urlEnv === undefined), {
    message: 'give exactly one of "url" or "urlEnv"',
  });
export type DatabaseConfig = z.infer<typeof DatabaseConfigSchema>;

/**
 * Every database declared across the connector's services, validated. A branch request names only
 * the logical database, so logical names must be unique across services.
 */
export function collectDatabases(services: { name: string; databases?: unknown[] }[]): DatabaseConfig[] {
  const out: DatabaseConfig[] = [];
  const problems: string[] = [];
  for (const s of services) {
    (s.databases ?? []).forEach((raw, i) => {
      const parsed = DatabaseConfigSchema.safeParse(raw);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          const at = [`services[${s.name}].databases[${i}]`, ...issue.path].join('.');
          problems.push(`${at}: ${issue.message}`);
        }
        return;
      }
      const clash = out.find((d) => d.name === parsed.data.name);
      if (clash)
        problems.push(`database '${parsed.data.name}' is declared twice (names are unique per connector)`);
      else out.push(parsed.data);
    });
  }
  if (problems.length > 0)
    throw new BranchConfigError(`invalid database config:\n  - ${problems.join('\n  - ')}`);
  return out;
}

export function findDatabase(databases: DatabaseConfig[], name: string): DatabaseConfig {
  const db = databases.find((d) => d.name === name);
  if (!db) {
    const declared = databases.map((d) => d.name).join(', ') || 'none';
    throw new BranchConfigError(
      `database '${name}' is not declared in this connector's config (declared: ${declared})`,
    );
  }
  return db;
}

/** The source URL, from the config or the connector's environment. */
export function sourceUrl(db: DatabaseConfig, env: Record<string, string | undefined> = process.env): string {
  if (db.url !== undefined) return db.url;
  const value = env[db.urlEnv!];
  if (!value) {
    throw new BranchConfigError(
      `database '${db.name}' takes its URL from the environment variable ${db.urlEnv}, which is not set on the connector`,
    );
  }
  return value;
}
