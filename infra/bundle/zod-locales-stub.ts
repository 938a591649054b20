/**
 * Stands in for zod's `locales` namespace in the Lambda bundles (see `zodWithoutLocales` in
 * infra/constructs/bundling.ts). Nothing in Switchyard switches zod's language; its English
 * messages are imported by zod itself, from `locales/en.js`, and stay in the bundle.
 */
export {};
