#!/usr/bin/env node
// The `switchyard` command. The sources are TypeScript; tsx loads them without a build step.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { register } = await import('tsx/esm/api');
register();
await import('../cli/main.ts');
