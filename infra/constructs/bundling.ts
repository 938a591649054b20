/**
 * How every function is bundled, as plain data so the stack (NodejsFunction) and the size
 * benchmark (bench/bundle/run.ts, esbuild directly) build the very same bundle.
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
   * Bundle the AWS SDK too: the versions the tests ran against, not whatever the Lambda runtime
   * happens to ship. bench/bundle/run.ts measures both ways.
   */
  externalModules: [] as string[],
  /** CommonJS dependencies inside an ESM bundle still call `require` for Node built-ins. */
  banner:
    "import { createRequire as __syCreateRequire } from 'node:module'; const require = __syCreateRequire(import.meta.url);",
} as const;

/** Lambda needs this to map stack traces of the minified bundle back to the TypeScript sources. */
export const SOURCE_MAP_NODE_OPTIONS = '--enable-source-maps';
