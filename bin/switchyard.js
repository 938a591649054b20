#!/usr/bin/env node
// The `switchyard` command.
//
// In a checkout of the repository the TypeScript sources are here, and they run through tsx: a
// contributor never runs a stale build. The installed package ships no sources, only the bundle
// that `npm run build` makes (dist/cli), and runs that: plain JavaScript, no loader, no cache.
import { existsSync } from 'node:fs';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const sources = new URL('../cli/main.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  // Stack traces of the minified bundle name the TypeScript files when asked for (the maps ship).
  if (process.env.SWITCHYARD_DEBUG) process.setSourceMapsEnabled(true);
  await import('../dist/cli/switchyard.mjs');
}
