/** Defaults of the local runtime, in a module light enough for the CLI to load before `dev` runs. */
export const DEFAULT_CONFIG_FILE = 'switchyard.config.json';
export const DEFAULT_PORT = 8787;
export const DEFAULT_DATA_DIR = '.switchyard/data';
export const DEFAULT_STATE_FILE = '.switchyard/local.json';
export const TABLE_NAME = 'switchyard';
/** Where the WebSocket API is served, and where its @connections API is mounted. */
export const WS_PATH = '/ws';
export const GATEWAY_PREFIX = '/_gateway';

/**
 * Connectors per `--demo` cluster, behind a balancer that stands for the Service, as a cluster
 * runs them in production (`replicas: 2`): the router sends every session and subscription to
 * each, so a request stolen through either replica reaches the developer. `--demo-replicas`
 * overrides it.
 */
export const DEMO_REPLICAS_PER_CLUSTER = 2;
