import { InvalidDatabaseUrlError } from './errors.ts';

export type DatabaseType = 'postgres' | 'mysql';

const SCHEMES: Record<DatabaseType, { protocols: string[]; port: number; example: string }> = {
  postgres: {
    protocols: ['postgres:', 'postgresql:'],
    port: 5432,
    example: 'postgres://user:password@host:5432/dbname',
  },
  mysql: { protocols: ['mysql:', 'mariadb:'], port: 3306, example: 'mysql://user:password@host:3306/dbname' },
};

export interface ParsedDatabaseUrl {
  url: URL;
  /** `host:port`, for messages (never the credentials). */
  where: string;
  database: string;
}

/**
 * Parses a source URL; the message of a bad one names the logical database and shows the
 * expected shape, never the URL itself (it holds a password).
 */
export function parseDatabaseUrl(raw: string, type: DatabaseType, label: string): ParsedDatabaseUrl {
  const scheme = SCHEMES[type];
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidDatabaseUrlError(
      `the URL of database '${label}' is not a valid URL: expected ${scheme.example}`,
    );
  }
  if (!scheme.protocols.includes(url.protocol)) {
    throw new InvalidDatabaseUrlError(
      `the URL of database '${label}' starts with '${url.protocol}//' but a ${type} URL is expected: ${scheme.example}`,
    );
  }
  if (!url.hostname) {
    throw new InvalidDatabaseUrlError(
      `the URL of database '${label}' names no host: expected ${scheme.example}`,
    );
  }
  let database: string;
  try {
    database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  } catch {
    throw new InvalidDatabaseUrlError(`the URL of database '${label}' has a badly encoded database name`);
  }
  if (!database || database.includes('/')) {
    throw new InvalidDatabaseUrlError(
      `the URL of database '${label}' must name exactly one database in its path: expected ${scheme.example}`,
    );
  }
  return { url, where: `${url.hostname}:${url.port || scheme.port}`, database };
}

/** The branch's URL: same server, credentials and options, another database. */
export function branchUrl(sourceUrl: string, name: string): string {
  const url = new URL(sourceUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}
