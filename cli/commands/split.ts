import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Command } from 'commander';
import { SessionEnding } from '../session/ending.ts';
import { SessionKeeper } from '../session/keeper.ts';
import { stderrProgress } from '../session/progress.ts';
import { createSession } from '../session/session-client.ts';
import { apiFrom, collect, parsePairs, type RouterOpts, withRouterOptions } from './common.ts';

interface SplitOpts extends RouterOpts {
  filter?: string[];
  mirror?: boolean;
  print?: boolean;
  service?: string;
}

/**
 * The SQS client for the output queue: the embedded SQS when the URL is one of its
 * (`http://sqs.<region>.localhost:<port>/...`), else AWS with the default credential chain.
 */
export function outputQueueClient(url: string): SQSClient {
  const u = new URL(url);
  const local = u.hostname.match(/^sqs\.([a-z0-9-]+)\.localhost$/);
  if (local) {
    return new SQSClient({
      region: local[1]!,
      endpoint: `http://127.0.0.1:${u.port}`,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  }
  return new SQSClient({ region: u.hostname.match(/sqs\.([a-z0-9-]+)\./)?.[1] ?? 'us-east-1' });
}

export function registerSplit(program: Command): void {
  withRouterOptions(
    program
      .command('split')
      .description(
        'receive the messages of a queue that match a filter, from every cluster, on one output queue',
      )
      .argument('<queue>', 'logical queue name from the topology (e.g. orders)')
      .requiredOption(
        '--filter <attribute=regex>',
        'message attribute filter (repeatable; all must match)',
        collect,
      )
      .option('--mirror', 'copy matching messages; the deployed consumers still get them')
      .option('--print', 'print matching messages as they arrive (and delete them from the output queue)')
      .option('--service <service>', 'also span this service’s clusters (for `switchyard env --session`)'),
  ).action(async (queue: string, opts: SplitOpts) => {
    const filter = parsePairs(opts.filter, '--filter');
    const api = apiFrom(opts);
    const progress = stderrProgress();
    const ending = SessionEnding.onInterrupt(api, progress);
    let stopped = false;
    ending.also(() => {
      stopped = true;
    });
    const session = await createSession(
      api,
      {
        ...(opts.service ? { service: opts.service } : {}),
        label: `split ${queue}`,
        splits: [{ queue, mode: opts.mirror ? 'mirror' : 'steal', filter }],
      },
      progress,
      ending,
    );
    const url = session.outputQueues?.[queue];
    if (!url) throw new Error(`the router returned no output queue for '${queue}'`);
    // The connection carries the heartbeats that keep the session (and its split) alive.
    const keeper = new SessionKeeper(api, session.id, progress, (message) => {
      process.stderr.write(`switchyard: session ${session.id} is gone: ${message}\n`);
      process.exit(3);
    });
    ending.also(() => keeper.stop());
    await keeper.start();
    progress.info(
      `${opts.mirror ? 'mirroring' : 'stealing'} ${queue} messages matching ${JSON.stringify(filter)} from every cluster`,
    );
    process.stdout.write(`output queue: ${url}\n`);
    process.stdout.write(
      `session:      ${session.id} (switchyard exec <service> --session ${session.id} -- <consumer> gets it as its queue URL)\n`,
    );
    if (!opts.print) {
      progress.info(
        'Ctrl-C ends the split (what is left in the output queue goes back to the cluster it came from)',
      );
      return;
    }
    const sqs = outputQueueClient(url);
    let retryMs = 500;
    while (!stopped) {
      const out = await sqs
        .send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 5,
            MessageAttributeNames: ['All'],
          }),
        )
        .catch(async (err) => {
          // The router or its SQS restarting: say so once per attempt and wait, do not spin.
          if (!stopped)
            progress.warn(`receive failed (${(err as Error).message}); retrying in ${retryMs / 1000} s`);
          await new Promise((r) => setTimeout(r, retryMs));
          retryMs = Math.min(retryMs * 2, 10_000);
          return { Messages: undefined };
        });
      if (out.Messages !== undefined) retryMs = 500;
      for (const m of out.Messages ?? []) {
        const attrs = Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? `<${v.DataType}>`]),
        );
        process.stdout.write(`${JSON.stringify({ body: m.Body, attributes: attrs })}\n`);
      }
      if (out.Messages?.length) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: url,
            Entries: out.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
      }
    }
  });
}
