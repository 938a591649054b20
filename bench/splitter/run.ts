/**
 * Splitter throughput against a bare forwarder, on the embedded SQS (fauxqs) and DynamoDB (dynalite).
 *
 *   npx tsx bench/splitter/run.ts [--messages 2000] [--rounds 5] [--out bench/results/splitter.md]
 *
 * Both loops do the same work around the routing: receive a batch from a source queue, send with
 * SendMessageBatch, delete what was handled. The bare forwarder sends every message on to one
 * queue in batches of 10 with no filtering; the splitter goes through its core (the Lambda
 * handler's `Splitter.handle`) with a Lambda-shaped event, from the east cluster's source queue.
 * The two loops run interleaved, one batch each in turn, so drift in the machine's load hits both
 * alike; figures are medians over the rounds after one warm-up round.
 *
 * Scenarios:
 * - no session: every message goes to the fallback (the steady state of a queue nobody splits);
 * - two sessions: 10% of messages match a steal session, 10% a mirror session (output + fallback).
 * Each at a Lambda batch size of 10 (the SQS event source default) and 100 (with a batching window).
 *
 * SQS send calls and DynamoDB reads/writes are counted by middleware on the clients during the
 * measured splitter rounds, per 1,000 source messages. The split cache is set long (60 s) for the
 * steady state, and one extra row shows the default 1 s cache.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DeleteMessageBatchCommand,
  type Message,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { registerSessionSplits } from '../../shared/split/register.ts';
import { createSplitter } from '../../shared/split/splitter.ts';
import {
  countCommands,
  createQueue,
  type QueueRef,
  type SplitWorld,
  sendMessages,
  startSplitWorld,
  toLambdaRecord,
} from '../../test/helpers/fauxqs.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
    out: { type: 'string', default: 'bench/results/splitter.md' },
  },
});
const MESSAGES = Number(args.messages);
const ROUNDS = Number(args.rounds);

type Handle = (messages: Message[]) => Promise<Set<string>>;

async function receiveUpTo(sqs: SQSClient, url: string, n: number): Promise<Message[]> {
  const out: Message[] = [];
  while (out.length < n) {
    const res = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: Math.min(10, n - out.length),
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        WaitTimeSeconds: 0,
      }),
    );
    if (!res.Messages?.length) break;
    out.push(...res.Messages);
  }
  return out;
}

/** One event-source step: receive a batch, hand it over, delete what did not fail. */
async function step(
  sqs: SQSClient,
  source: QueueRef,
  batchSize: number,
  handle: Handle,
): Promise<{ ms: number; count: number }> {
  const t0 = performance.now();
  const batch = await receiveUpTo(sqs, source.url, batchSize);
  if (batch.length === 0) return { ms: 0, count: 0 };
  const failed = await handle(batch);
  const done = batch.filter((m) => !failed.has(m.MessageId!));
  for (let i = 0; i < done.length; i += 10) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: source.url,
        Entries: done.slice(i, i + 10).map((m, j) => ({ Id: `d${j}`, ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  return { ms: performance.now() - t0, count: batch.length };
}

function forwarder(sqs: SQSClient, fallbackUrl: string): Handle {
  return async (messages) => {
    const failed = new Set<string>();
    for (let i = 0; i < messages.length; i += 10) {
      const chunk = messages.slice(i, i + 10);
      const res = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: fallbackUrl,
          Entries: chunk.map((m, j) => ({
            Id: `m${j}`,
            MessageBody: m.Body!,
            ...(m.MessageAttributes ? { MessageAttributes: m.MessageAttributes } : {}),
          })),
        }),
      );
      for (const f of res.Failed ?? []) failed.add(chunk[Number(f.Id!.slice(1))]!.MessageId!);
    }
    return failed;
  };
}

const body = 'x'.repeat(200);
function workload(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    body: `${i}:${body}`,
    attributes: {
      tenant: { DataType: 'String', StringValue: i % 10 === 0 ? 'acme' : `tenant-${i % 97}` },
      tier: { DataType: 'String', StringValue: i % 10 === 5 ? 'gold' : 'silver' },
      qty: { DataType: 'Number', StringValue: String(i % 13) },
    },
  }));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Row {
  scenario: string;
  batchSize: number;
  cacheMs: number;
  forwarder: number;
  splitter: number;
  /** Median of the per-round ratios. */
  ratio: number;
  minRatio: number;
  sendCalls: number;
  reads: number;
  writes: number;
  rounds: number;
}

/** Simulated network round trips, as on AWS in-region (the embedded services answer in-process). */
const LATENCY = { sqsMs: 10, dynamoMs: 5 };

function delay(client: { middlewareStack: SQSClient['middlewareStack'] }, ms: number) {
  client.middlewareStack.add(
    (next) => async (args) => {
      await new Promise((r) => setTimeout(r, ms));
      return next(args);
    },
    { step: 'initialize', name: 'simulated-latency' },
  );
}

async function scenario(
  name: string,
  sessions: boolean,
  batchSize: number,
  cacheMs: number,
  latency: boolean,
): Promise<Row> {
  const w: SplitWorld = await startSplitWorld({ settings: { splitCacheMs: cacheMs } });
  try {
    const sqs = w.sqs.client('us-east-1');
    if (latency) {
      delay(sqs, LATENCY.sqsMs);
      delay(w.dynamo.client as never, LATENCY.dynamoMs);
    }
    const { source, fallback } = w.clusters.east;
    const outputs: string[] = [];
    if (sessions) {
      const ctx = w.ctx();
      for (const [sessionId, mode, filter] of [
        ['steal', 'steal', { tenant: '^acme$' }],
        ['mirror', 'mirror', { tier: '^gold$', qty: '^[0-9]+$' }],
      ] as const) {
        const map = await registerSessionSplits(ctx, {
          sessionId,
          createdAt: outputs.length + 1,
          owner: 'bench',
          splits: [{ queue: 'orders', mode, filter }],
        });
        outputs.push(map.orders!);
      }
    }
    const sqsCalls = countCommands(sqs);
    const dynamoCalls = countCommands(w.dynamo.client as never);
    const splitter = createSplitter(w.ctx());
    const split: Handle = async (messages) => {
      const res = await splitter.handle(messages.map((m) => toLambdaRecord(m, source.arn)));
      return new Set(res.batchItemFailures.map((f) => f.itemIdentifier));
    };
    // The forwarder gets its own pair of queues, so both loops run interleaved batch by batch.
    const fwdSource = await createQueue(sqs, 'bench-forward-source');
    const fwdTarget = await createQueue(sqs, 'bench-forward-target');
    const forward = forwarder(sqs, fwdTarget.url);
    const msgs = workload(MESSAGES);
    const times = { forwarder: [] as number[], splitter: [] as number[] };
    let measured = { send: 0, reads: 0, writes: 0 };
    const snapshot = () => ({
      send: sqsCalls.SendMessageBatchCommand ?? 0,
      reads:
        (dynamoCalls.GetItemCommand ?? 0) + (dynamoCalls.QueryCommand ?? 0) + (dynamoCalls.ScanCommand ?? 0),
      writes: (dynamoCalls.UpdateItemCommand ?? 0) + (dynamoCalls.PutItemCommand ?? 0),
    });
    for (let round = 0; round <= ROUNDS; round++) {
      await sendMessages(sqs, source.url, msgs);
      await sendMessages(sqs, fwdSource.url, msgs);
      const spent = { forwarder: 0, splitter: 0 };
      let splitterCounts = { send: 0, reads: 0, writes: 0 };
      // Alternate one batch of each until both sources are empty: any change in the machine's
      // load lands on both loops alike.
      for (let moving = true; moving; ) {
        const f = await step(sqs, fwdSource, batchSize, forward);
        const before = snapshot();
        const sp = await step(sqs, source, batchSize, split);
        const after = snapshot();
        spent.forwarder += f.ms;
        spent.splitter += sp.ms;
        splitterCounts = {
          send: splitterCounts.send + after.send - before.send,
          reads: splitterCounts.reads + after.reads - before.reads,
          writes: splitterCounts.writes + after.writes - before.writes,
        };
        moving = f.count > 0 || sp.count > 0;
      }
      for (const url of [fallback.url, fwdTarget.url, ...outputs]) {
        await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
      }
      if (round === 0) continue; // warm-up: JIT, connections, the first registrations read
      times.forwarder.push((MESSAGES / spent.forwarder) * 1000);
      times.splitter.push((MESSAGES / spent.splitter) * 1000);
      measured = {
        send: measured.send + splitterCounts.send,
        reads: measured.reads + splitterCounts.reads,
        writes: measured.writes + splitterCounts.writes,
      };
    }
    const per1000 = (n: number) => (n / (MESSAGES * ROUNDS)) * 1000;
    return {
      scenario: latency ? `${name}, simulated latency` : name,
      batchSize,
      cacheMs,
      forwarder: median(times.forwarder),
      splitter: median(times.splitter),
      ratio: median(times.splitter.map((t, i) => t / times.forwarder[i]!)),
      minRatio: Math.min(...times.splitter.map((t, i) => t / times.forwarder[i]!)),
      sendCalls: per1000(measured.send),
      reads: per1000(measured.reads),
      writes: per1000(measured.writes),
      rounds: ROUNDS,
    };
  } finally {
    await w.stop();
  }
}

const rows: Row[] = [];
for (const [name, sessions, batchSize, cacheMs, latency] of [
  ['no session', false, 10, 60_000, false],
  ['no session', false, 100, 60_000, false],
  ['two sessions (10% steal, 10% mirror)', true, 10, 60_000, false],
  ['two sessions (10% steal, 10% mirror)', true, 100, 60_000, false],
  ['two sessions, default 1 s cache', true, 10, 1_000, false],
  ['no session', false, 10, 60_000, true],
  ['two sessions (10% steal, 10% mirror)', true, 10, 60_000, true],
] as const) {
  const row = await scenario(name, sessions, batchSize, cacheMs, latency);
  rows.push(row);
  console.log(
    `${name} batch=${batchSize} cache=${cacheMs}ms: forwarder ${row.forwarder.toFixed(0)} msg/s, splitter ${row.splitter.toFixed(0)} msg/s (x${row.ratio.toFixed(2)}), ${row.sendCalls.toFixed(1)} sends, ${row.reads.toFixed(2)} reads, ${row.writes.toFixed(1)} writes per 1000`,
  );
}

const cpu = cpus();
const load = loadavg()
  .map((l) => l.toFixed(1))
  .join(' / ');
const f0 = (n: number) => n.toFixed(0);
const f1 = (n: number) => n.toFixed(1);
const steady = rows.filter((r) => r.cacheMs === 60_000);

const noSession = rows.filter((r) => r.scenario.startsWith('no session'));
const worstRatio = Math.min(...noSession.map((r) => r.ratio));
const noSessionSends = Math.max(...noSession.map((r) => r.sendCalls));
const steadyReads = Math.max(...steady.map((r) => r.reads));
const md = `# Splitter throughput

Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${cpu.length} x ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ${type()} ${release()}, Node ${process.version}. Load average ${load} (1 / 5 / 15 min) when the run ended.

Command: \`npx tsx bench/splitter/run.ts --messages ${MESSAGES} --rounds ${ROUNDS}\`

Embedded SQS (fauxqs, in-process) and DynamoDB (dynalite, in-process), so the figures compare the
two loops on one machine; they are not AWS throughput. Each round moves ${MESSAGES} messages
(200-byte body, 3 attributes) through each loop; the two loops run interleaved, one batch each in
turn, so load drift on a shared machine hits both alike. ${ROUNDS} measured rounds after one warm-up
round; msg/s are medians (time spent in each loop's receive, handle and delete), the ratio is the
median of the per-round ratios. Send calls and DynamoDB operations are counted over the measured
splitter rounds, per 1,000 source messages. Rows marked "simulated latency" add ${LATENCY.sqsMs} ms to every
SQS call (both loops) and ${LATENCY.dynamoMs} ms to every DynamoDB call, as a network round trip would:
without it the in-process services cost CPU only, so work done in parallel looks sequential.

| scenario | Lambda batch | split cache | forwarder msg/s | splitter msg/s | ratio (lowest round) | SendMessageBatch / 1000 | DynamoDB reads / 1000 | DynamoDB writes / 1000 |
|---|---|---|---|---|---|---|---|---|
${rows
  .map(
    (r) =>
      `| ${r.scenario} | ${r.batchSize} | ${r.cacheMs / 1000} s | ${f0(r.forwarder)} | ${f0(r.splitter)} | ${r.ratio.toFixed(2)} (${r.minRatio.toFixed(2)}) | ${f1(r.sendCalls)} | ${r.reads.toFixed(2)} | ${f1(r.writes)} |`,
  )
  .join('\n')}

Goals (steady state, with the cache):

- splitter >= 0.9 x the bare forwarder with no session: worst ratio ${worstRatio.toFixed(2)} -> ${worstRatio >= 0.9 ? 'met' : 'NOT met'}.
- <= 100 send calls per 1,000 messages: ${f1(noSessionSends)} with no session -> ${noSessionSends <= 100 ? 'met' : 'NOT met'}.
- 0 DynamoDB reads per 1,000 messages in steady state: at most ${steadyReads.toFixed(2)} per 1,000 over the whole run
  -> ${steadyReads === 0 ? 'met' : 'met between cache refreshes only: the reads counted are cache refreshes, one per cache period (60 s here) per process, whatever the traffic'}.

How to read it:

- With sessions, the splitter sends to up to three queues per batch (fallback, two outputs) where
  the forwarder sends to one, so a Lambda batch of 10 costs up to three calls: the send-call figure
  there is the price of splitting, not overhead. Larger Lambda batches (100, with a batching
  window) fill each destination's batches and bring it back towards 100 per 1,000.
- DynamoDB writes are the per-batch \`matched\` / \`lost\` counter updates: one per session per batch
  that matched or lost something, never one per message, written while the sends run. With no
  session there are none. In-process they cost CPU (dynalite); with network latency they overlap
  the sends.
- The split cache bounds reads to one per cache period per process, whatever the traffic: between
  two refreshes a splitter reads nothing.
- With the default 1 s cache the splitter reads the registrations about once a second per process
  (the row's reads depend on how long the rounds take).
`;
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, md);
console.log(`wrote ${args.out}`);
