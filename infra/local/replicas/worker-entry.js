// The process a router worker of `switchyard dev --replicas N` starts with (see worker.ts). The
// sources are TypeScript; tsx loads them without a build step, as in bin/switchyard.js.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { register } = await import('tsx/esm/api');
register();
await import('./worker.ts');
