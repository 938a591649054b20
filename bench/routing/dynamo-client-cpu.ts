/**
 * The caller's CPU per DynamoDB call: the router's lean signed client (functions/lib/dynamodb-client.ts)
 * against the SDK's client, on the same store operation (a conditional `UpdateItem`
 * returning the item, as a session's answer makes), against dynalite in a process of its own so
 * that only the caller's side is on this process's clock. The two alternate, `--rounds` times;
 * the table gives each round and the median.
 *
 *   npx tsx bench/routing/dynamo-client-cpu.ts [--calls 1500] [--rounds 4] [--out FILE]
 */
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { signedDynamo } from '../../functions/lib/dynamodb-client.ts';
import { DynamoDbStore, ensureTable } from '../../shared/store/dynamodb/dynamodb-store.ts';
import type { Store } from '../../shared/store/store.ts';
import { localClient } from '../../test/helpers/dynalite.ts';
import { startDynaliteProcess } from './dynalite-process.ts';
import { machine } from './machine.ts';
import { median } from './stats.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '1500' },
    rounds: { type: 'string', default: '4' },
    out: { type: 'string', default: 'bench/results/dynamo-client.md' },
  },
});
const HEADER = `# DynamoDB client CPU per call (\`bench/routing/dynamo-client-cpu.ts\`)

The caller's CPU per DynamoDB call, the router's lean signed client against the SDK's client,
both through the store (which marshals with the SDK's util-dynamodb either way), on the same
conditional \`UpdateItem\` (the write a session's answer makes), dynalite in a process of its own.
Each run is appended below.
`;
const calls = Number(args.calls);
const rounds = Number(args.rounds);
const m = machine();
const began = new Date();

const dynalite = await startDynaliteProcess();
const table = 'bench-dynamo-client';
const sdkClient = localClient(dynalite.endpoint);
await ensureTable(sdkClient, table);
const stores: Record<string, Store> = {
  'SDK client (through the store)': new DynamoDbStore(sdkClient, table),
  'lean signed client (through the store)': new DynamoDbStore(
    signedDynamo({
      endpoint: dynalite.endpoint,
      region: 'us-east-1',
      credentials: async () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
    }),
    table,
  ),
};
const key = { pk: 'SESSION#bench', sk: 'SESSION' };
await stores['SDK client (through the store)']!.put({ ...key, kind: 'SESSION', state: 'pending' });

/** CPU ms per call over `calls` sequential conditional updates. */
async function cpuPerCall(store: Store): Promise<number> {
  const c0 = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    await store.update(
      key,
      { updatedAt: i },
      { add: { readyChildren: 1 }, conditions: [{ type: 'equals', attr: 'state', value: 'pending' }] },
    );
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / calls;
}

// A warm-up of each (JIT, sockets, the credential cache), not counted.
for (const store of Object.values(stores)) await cpuPerCall(store);

const results = new Map<string, number[]>(Object.keys(stores).map((k) => [k, []]));
const loads: string[] = [];
for (let r = 0; r < rounds; r++) {
  loads.push(loadavg()[0]!.toFixed(2));
  const order = r % 2 === 0 ? Object.keys(stores) : Object.keys(stores).reverse();
  for (const name of order) results.get(name)!.push(await cpuPerCall(stores[name]!));
}
await dynalite.stop();

const [sdkName, leanName] = Object.keys(stores) as [string, string];
const sdk = median(results.get(sdkName)!);
const lean = median(results.get(leanName)!);
const lines = [
  '',
  `## Run of ${began.toISOString().replace('T', ' ').slice(0, 19)} UTC`,
  '',
  `Machine: ${m.os}, ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, Node ${m.node}. Load average at start: ${m.loadAtStart}; 1-minute load at each round: ${loads.join(', ')}.`,
  `Command: \`npx tsx bench/routing/dynamo-client-cpu.ts --calls ${calls} --rounds ${rounds}\` (${calls} conditional \`UpdateItem\`s per client and round, the two alternating, dynalite in its own process).`,
  '',
  '| client | CPU ms per call, median | each round |',
  '|---|---|---|',
  ...[...results].map(
    ([name, xs]) => `| ${name} | **${median(xs).toFixed(3)}** | ${xs.map((x) => x.toFixed(3)).join(', ')} |`,
  ),
  '',
  `Lean / SDK: **×${(lean / sdk).toFixed(2)}**.`,
];
console.log(lines.join('\n'));
if (args.out) {
  if (!existsSync(args.out)) writeFileSync(args.out, HEADER);
  appendFileSync(args.out, `${lines.join('\n')}\n`);
}
