/**
 * Builds one function bundle, as the stack deploys it:
 *
 *   node --import tsx infra/bundle/build.ts <entry> <outdir> [--bundle-aws-sdk]
 *
 * CDK runs this from the stack's local bundling (infra/constructs/handler-function.ts) in a child
 * process, because esbuild plugins need its asynchronous API and CDK's bundling hook is synchronous.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { esbuildOptions } from '../constructs/bundling.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { 'bundle-aws-sdk': { type: 'boolean', default: false } },
});
const [entry, outdir] = positionals;
if (!entry || !outdir || positionals.length !== 2) {
  process.stderr.write(
    'usage: node --import tsx infra/bundle/build.ts <entry> <outdir> [--bundle-aws-sdk]\n',
  );
  process.exit(2);
}

try {
  const result = await build(
    esbuildOptions({
      entry: resolve(entry),
      outdir: resolve(outdir),
      bundleAwsSdk: values['bundle-aws-sdk'],
    }),
  );
  for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) {
    process.stderr.write(`  ${file} ${(bytes / 1024).toFixed(1)} KB\n`);
  }
} catch (err) {
  // esbuild has already printed each error with its file and line.
  process.stderr.write(`bundling ${entry} failed: ${(err as Error).message.split('\n')[0]}\n`);
  process.exit(1);
}
