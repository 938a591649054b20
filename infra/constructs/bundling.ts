import { fileURLToPath } from 'node:url';
import type { BuildOptions, Plugin } from 'esbuild';

/**
 * How every function is bundled. The stack (handler-function.ts, through infra/bundle/build.ts),
 * the size benchmark (bench/bundle/run.ts) and the bundle tests all call `esbuildOptions`, so they
 * build the very same bundle.
 */
export const BUNDLE = {
  target: 'node22',
  format: 'esm',
  minify: true,
  sourceMap: true,
  /** The map points at files in the repository; embedding their text would double the upload. */
  sourcesContent: false,
  /** ESM entry points of dependencies first: they tree-shake better (the AWS SDK ships both). */
  mainFields: ['module', 'main'],
  /**
   * The AWS SDK v3 clients the Lambda Node.js 22 runtime provides, left out of the bundle by
   * default (context `bundleAwsSdk=true` puts them in): they are about 370 KB of each bundle.
   */
  awsSdk: ['@aws-sdk/*'],
  /** CommonJS dependencies inside an ESM bundle still call `require` for Node built-ins. */
  banner:
    "import { createRequire as __syCreateRequire } from 'node:module'; const require = __syCreateRequire(import.meta.url);",
  /** The file Lambda loads: `index.mjs`, handler `index.handler`. */
  outfile: 'index.mjs',
} as const;

/** Lambda needs this to map stack traces of the minified bundle back to the TypeScript sources. */
export const SOURCE_MAP_NODE_OPTIONS = '--enable-source-maps';

/** An empty module standing in for zod's translated error messages. */
export const ZOD_LOCALES_STUB = fileURLToPath(new URL('../bundle/zod-locales-stub.ts', import.meta.url));

/**
 * zod re-exports every translation of its error messages as one namespace (`z.locales`, about
 * 260 KB minified). A library that passes the `z` namespace around as a value (the OpenAPI
 * generator of the http function does) keeps all of it in the bundle, though nothing reads it:
 * zod's English messages come from `locales/en.js`, which zod imports by itself. This plugin
 * resolves that re-export, and only that one, to an empty module.
 */
export const zodWithoutLocales: Plugin = {
  name: 'switchyard-zod-without-locales',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: ZOD_LOCALES_STUB } : undefined,
    );
  },
};

export interface FunctionBundleOptions {
  /** The handler file. */
  entry: string;
  /** The directory that receives `index.mjs` and its source map. */
  outdir: string;
  /** Put the AWS SDK in the bundle instead of using the runtime's. */
  bundleAwsSdk: boolean;
}

/** esbuild options for one function bundle; `metafile` lets callers see what the bundle holds. */
export function esbuildOptions(opts: FunctionBundleOptions): BuildOptions & { metafile: true } {
  return {
    entryPoints: [opts.entry],
    outfile: `${opts.outdir}/${BUNDLE.outfile}`,
    bundle: true,
    platform: 'node',
    format: BUNDLE.format,
    target: BUNDLE.target,
    minify: BUNDLE.minify,
    sourcemap: BUNDLE.sourceMap,
    sourcesContent: BUNDLE.sourcesContent,
    mainFields: [...BUNDLE.mainFields],
    banner: { js: BUNDLE.banner },
    external: opts.bundleAwsSdk ? [] : [...BUNDLE.awsSdk],
    plugins: [zodWithoutLocales],
    metafile: true,
    logLevel: 'warning',
  };
}
