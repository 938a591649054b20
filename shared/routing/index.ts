export * from './namespace.ts';
export * from './route.ts';
export * from './routing-error.ts';
export { ROUTES } from './rules.ts';
export * from './subscribe-aggregate.ts';
