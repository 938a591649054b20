/**
 * Builds the installable package of the `switchyard` command (the CLI and the connector) into
 * dist/package, with the esbuild set-up the functions use (`esbuildOptions`):
 *
 *   npm run build                    # dist/package: package.json, bin/, dist/cli/
 *   npm pack ./dist/package          # the tarball to install or publish
 *
 * The repository's own package.json stays private: it is the development workspace, with the CDK,
 * the test tools and the local runtime's services as dependencies. What is published is this
 * generated package, whose bundle needs no dependency at run time.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { esbuildOptions } from '../constructs/bundling.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Free on the npm registry (`switchyard` is an unrelated package); the command stays `switchyard`. */
export const PACKAGE_NAME = 'switchyard-router';

/** The bundle's entry, as bin/switchyard.js imports it in an installed package. */
export const CLI_ENTRY_OUT = 'dist/cli/switchyard.mjs';

/**
 * The local runtime's embedded DynamoDB (dynalite) loads a native LevelDB binding, which cannot
 * be bundled; `switchyard dev` runs from a checkout (`npm start`), the rest from the bundle.
 */
export const LOCAL_RUNTIME_ONLY = ['dynalite', 'fauxqs'];

/**
 * The functions' options, with what a command line differs in: the AWS SDK inside (there is no
 * runtime to provide it), Node 20 (the oldest Node the package supports), and one chunk per
 * command, so that each loads only the code it runs (cli/command-table.ts imports them lazily).
 */
export function cliBuildOptions(outdir: string): BuildOptions & { metafile: true } {
  const { outfile: _, ...functionOptions } = esbuildOptions({
    entry: join(ROOT, 'cli/main.ts'),
    outdir,
    bundleAwsSdk: true,
  });
  return {
    ...functionOptions,
    entryPoints: { switchyard: join(ROOT, 'cli/main.ts') },
    outdir,
    splitting: true,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    target: 'node20',
    external: LOCAL_RUNTIME_ONLY,
  };
}

/** Writes dist/package; returns the bundle's metafile (what each chunk holds). */
export async function buildCliPackage(out = join(ROOT, 'dist/package')): Promise<Metafile> {
  const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    description: string;
    license: string;
    engines: Record<string, string>;
  };
  rmSync(out, { recursive: true, force: true });
  const result = await build(cliBuildOptions(join(out, dirname(CLI_ENTRY_OUT))));
  mkdirSync(join(out, 'bin'), { recursive: true });
  copyFileSync(join(ROOT, 'bin/switchyard.js'), join(out, 'bin/switchyard.js'));
  const pkg = {
    name: PACKAGE_NAME,
    version: rootPkg.version,
    description: rootPkg.description,
    license: rootPkg.license,
    type: 'module',
    engines: rootPkg.engines,
    bin: { switchyard: 'bin/switchyard.js' },
    // The bundle and its launcher only: no sources, tests, benchmarks or docs.
    files: ['bin/', 'dist/'],
    keywords: ['kubernetes', 'traffic', 'intercept', 'serverless', 'aws', 'cli'],
  };
  writeFileSync(join(out, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  writeFileSync(join(out, 'README.md'), PACKAGE_README);
  return result.metafile;
}

const PACKAGE_README = `# switchyard-router

The \`switchyard\` command of Switchyard, a serverless traffic router across Kubernetes clusters:
intercept a service's traffic from every cluster, read its environment, resolve and connect
through the default cluster, split queues and branch databases, and run a cluster's connector.

    npm install -g switchyard-router
    switchyard --help

The local router (\`switchyard dev\`) runs from a checkout of the repository (\`npm start\`).
`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const metafile = await buildCliPackage();
    const bytes = Object.values(metafile.outputs).reduce((n, o) => n + o.bytes, 0);
    process.stderr.write(
      `built dist/package (${PACKAGE_NAME}): ${Object.keys(metafile.outputs).length} files, ${(bytes / 1024).toFixed(0)} KB\n`,
    );
  } catch (err) {
    // esbuild has already printed each error with its file and line.
    process.stderr.write(`building the CLI failed: ${(err as Error).message.split('\n')[0]}\n`);
    process.exit(1);
  }
}
