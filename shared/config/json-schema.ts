import * as z from 'zod';
import { TopologySchema } from './topology.ts';

/** The JSON Schema of switchyard.config.json, for editors (committed as docs/switchyard.config.schema.json). */
export function topologyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(TopologySchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
