/**
 * Bundle size and module init time of each Lambda function, built exactly as the stack builds
 * it (esbuildOptions of infra/constructs/bundling.ts), once as deployed by default (the AWS SDK
 * left to the Lambda runtime's copy) and once with context bundleAwsSdk=true (the SDK inside). Init time is the time to import the bundle in a
 * fresh `node` process, median of RUNS interleaved rounds, against a bare handler that imports the same AWS SDK
 * clients. Writes bench/results/bundle.md.
 *
 *   npx tsx bench/bundle/run.ts [--runs 15]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';
import { BUNDLE, esbuildOptions } from '../../infra/constructs/bundling.ts';
import { HANDLER_ENTRIES, type HandlerName, PROJECT_ROOT } from '../../infra/constructs/handler-function.ts';

const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 15;
const GOAL_KB = 500;
/** Inside node_modules, so a bundle with the SDK left external still resolves it. */
const OUT = join(PROJECT_ROOT, 'node_modules/.cache/switchyard-bench');
const RESULTS = join(PROJECT_ROOT, 'bench/results/bundle.md');

/** The client class each SDK package exports, for the bare baseline handler. */
const SDK_CLIENTS: Record<string, string> = {
  '@aws-sdk/client-dynamodb': 'DynamoDBClient',
  '@aws-sdk/lib-dynamodb': 'DynamoDBDocumentClient',
  '@aws-sdk/util-dynamodb': 'marshall',
  '@aws-sdk/client-sqs': 'SQSClient',
  '@aws-sdk/client-apigatewaymanagementapi': 'ApiGatewayManagementApiClient',
};

type Variant = 'bundled' | 'external';

interface Built {
  file: string;
  bytes: number;
  gzipBytes: number;
  mapBytes: number;
  metafile: Metafile;
}

async function bundle(entry: string, outdir: string, variant: Variant): Promise<Built> {
  const file = join(outdir, BUNDLE.outfile);
  const result = await build(esbuildOptions({ entry, outdir, bundleAwsSdk: variant === 'bundled' }));
  const code = readFileSync(file);
  return {
    file,
    bytes: code.length,
    gzipBytes: gzipSync(code).length,
    mapBytes: statSync(`${file}.map`).size,
    metafile: result.metafile,
  };
}

/** The AWS SDK packages a bundle pulled in (from esbuild's metafile). */
function sdkPackages(metafile: Metafile): string[] {
  const found = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const m = input.match(/node_modules\/(@aws-sdk\/[^/]+)\//);
    if (m?.[1] && SDK_CLIENTS[m[1]]) found.add(m[1]);
  }
  return [...found].sort();
}

/** Output bytes of inputs whose path contains `part`. */
function bytesFrom(metafile: Metafile, part: string): number {
  let bytes = 0;
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      if (input.includes(part)) bytes += bytesInOutput;
    }
  }
  return bytes;
}

/** Output bytes by package, largest first: what the size is made of. */
function largestPackages(metafile: Metafile, top = 5): [string, number][] {
  const bytes = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const m = input.match(/node_modules\/((@[^/]+\/)?[^/]+)\//);
      const key = m?.[1] ?? 'project sources';
      bytes.set(key, (bytes.get(key) ?? 0) + bytesInOutput);
    }
  }
  return [...bytes].sort((a, b) => b[1] - a[1]).slice(0, top);
}

interface Probe {
  file: string;
  nodeOptions?: string[];
}

/** Milliseconds to import a file in a fresh node process (startup excluded). */
function importMs({ file, nodeOptions = [] }: Probe): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(file)}); process.stdout.write(String(performance.now() - t));`;
  const out = execFileSync(process.execPath, [...nodeOptions, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NODE_OPTIONS: '' },
  });
  return Number(out);
}

/**
 * Median import time of each probe over RUNS rounds. The probes are interleaved (one of each per
 * round) so that load on the machine hits a function and its bare baseline alike.
 */
function medianImportMs(probes: Probe[]): number[] {
  const times = probes.map(() => [] as number[]);
  for (let round = 0; round < RUNS; round++) {
    for (const [i, probe] of probes.entries()) times[i]!.push(importMs(probe));
  }
  return times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!);
}

async function bareBaseline(name: HandlerName, packages: string[], variant: Variant): Promise<Built> {
  const dir = join(OUT, `bare-${name}-${variant}`);
  mkdirSync(dir, { recursive: true });
  const entry = join(dir, 'entry.ts');
  const imports = packages.map((p) => `import { ${SDK_CLIENTS[p]} } from '${p}';`).join('\n');
  const clients = packages.map((p) => SDK_CLIENTS[p]).join(', ');
  // Referencing the classes keeps them in the bundle; the handler does nothing else.
  writeFileSync(entry, `${imports}\nexport const handler = async () => [${clients}].map((c) => c.name);\n`);
  return bundle(entry, dir, variant);
}

const kb = (bytes: number) => (bytes / 1024).toFixed(1);
const ms = (n: number) => n.toFixed(1);

interface Row {
  name: HandlerName;
  sdk: string[];
  bundled: Built;
  external: Built;
  init: {
    external: number;
    externalMaps: number;
    bundled: number;
    bareBundled: number;
    bareExternal: number;
  };
}

let loadBefore = '';

async function main(): Promise<void> {
  loadBefore = loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  rmSync(OUT, { recursive: true, force: true });
  const rows: Row[] = [];
  for (const [name, entry] of Object.entries(HANDLER_ENTRIES) as [HandlerName, string][]) {
    const path = join(PROJECT_ROOT, entry);
    const bundled = await bundle(path, join(OUT, `${name}-bundled`), 'bundled');
    const external = await bundle(path, join(OUT, `${name}-external`), 'external');
    const sdk = sdkPackages(bundled.metafile);
    const bareBundled = await bareBaseline(name, sdk, 'bundled');
    const bareExternal = await bareBaseline(name, sdk, 'external');
    const [e, eMaps, b, bareB, bareE] = medianImportMs([
      { file: external.file },
      // Lambda runs with NODE_OPTIONS=--enable-source-maps (set by the stack).
      { file: external.file, nodeOptions: ['--enable-source-maps'] },
      { file: bundled.file },
      { file: bareBundled.file },
      { file: bareExternal.file },
    ]) as [number, number, number, number, number];
    const init = { external: e, externalMaps: eMaps, bundled: b, bareBundled: bareB, bareExternal: bareE };
    rows.push({ name, sdk, bundled, external, init });
    process.stderr.write(
      `${name}: ${kb(external.bytes)} KB (bundleAwsSdk: ${kb(bundled.bytes)} KB), init ${ms(init.external)} ms vs bare ${ms(init.bareExternal)} ms\n`,
    );
  }
  writeFileSync(RESULTS, report(rows));
  process.stderr.write(`wrote ${relative(PROJECT_ROOT, RESULTS)}\n`);
}

function report(rows: Row[]): string {
  const cpu = cpus();
  const lines = [
    '# Function bundle size and init time',
    '',
    `Measured ${new Date().toISOString()} with \`npx tsx bench/bundle/run.ts --runs ${RUNS}\` on ${cpu[0]?.model ?? 'unknown CPU'} (${cpu.length} cores), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${process.platform}/${process.arch}, Node ${process.version}.`,
    `Load average (1, 5, 15 min) at start ${loadBefore}, at end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ' ',
      )}: on a shared machine absolute times wander; each round imports every variant once, so the ratios are the steadier figure.`,
    'Lambda runs Node 22 on arm64: absolute times there differ too.',
    '',
    `Bundles are built as the stack builds them (esbuildOptions in infra/constructs/bundling.ts): esbuild, ESM, target ${BUNDLE.target}, minified, external source map without sources, zod's translated messages left out. By default the AWS SDK is the Lambda runtime's (left out of the bundle); context \`bundleAwsSdk=true\` puts it in. Goal: at most ${GOAL_KB} KB minified per function.`,
    '',
    '## Size',
    '',
    '| function | minified, default (runtime SDK) | gzip | source map | goal | minified, bundleAwsSdk=true | gzip |',
    '|---|---:|---:|---:|---|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${kb(r.external.bytes)} KB | ${kb(r.external.gzipBytes)} KB | ${kb(r.external.mapBytes)} KB | ${r.external.bytes <= GOAL_KB * 1024 ? 'met' : `over by ${kb(r.external.bytes - GOAL_KB * 1024)} KB`} | ${kb(r.bundled.bytes)} KB | ${kb(r.bundled.gzipBytes)} KB |`,
    ),
    '',
    '## Module init (import in a fresh process, median of interleaved rounds)',
    '',
    'The bare handler imports the same AWS SDK clients as the function and nothing else; the ratio is function / bare.',
    '',
    '| function | SDK clients | default (runtime SDK) | + --enable-source-maps | bare | ratio | bundleAwsSdk=true | bare | ratio |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.sdk.map((p) => p.replace('@aws-sdk/', '')).join(', ') || 'none'} | ${ms(r.init.external)} ms | ${ms(r.init.externalMaps)} ms | ${ms(r.init.bareExternal)} ms | ${(r.init.external / r.init.bareExternal).toFixed(2)} | ${ms(r.init.bundled)} ms | ${ms(r.init.bareBundled)} ms | ${(r.init.bundled / r.init.bareBundled).toFixed(2)} |`,
    ),
    '',
    'Here "runtime SDK" is the project\'s own node_modules copy, loaded file by file as Lambda loads the copy in its runtime.',
    '',
    '## What the bundles are made of (largest packages, minified bytes)',
    '',
    ...rows.map(
      (r) =>
        `- ${r.name}, default: ${largestPackages(r.external.metafile)
          .map(([p, b]) => `${p} ${kb(b)} KB`)
          .join(', ')}`,
    ),
    ...rows.map(
      (r) =>
        `- ${r.name}, bundleAwsSdk=true: ${largestPackages(r.bundled.metafile)
          .map(([p, b]) => `${p} ${kb(b)} KB`)
          .join(
            ', ',
          )}; of zod, its locales (zod/v4/locales) ${kb(bytesFrom(r.bundled.metafile, 'node_modules/zod/v4/locales/'))} KB`,
    ),
    '',
  ];
  return lines.join('\n');
}

await main();
