import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { isQueueGone } from '../../shared/split/send.ts';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { KINDS, keys } from '../../shared/store/keys.ts';
import type { Store } from '../../shared/store/store.ts';
import { eventually, type TestRuntime } from './local-runtime.ts';

/**
 * Checks of the one end state every session ending must reach (docs/sqs-splitting.md, "Ending a
 * session"), against the local runtime's embedded DynamoDB and SQS.
 *
 * What a session may leave in the table once released, as history: its parent item (`closed`,
 * with its reason), its children (`closed`), and its split statuses (`retired`, with the counters
 * of what was returned, and an `expiresAt` a week out for DynamoDB's TTL). Anything else (a queue
 * registration, a split not retired, a child not closed, a pending subscribe, a client connection
 * record) is a leftover.
 */
export function storeOf(runtime: TestRuntime): Store {
  const client = new DynamoDBClient({
    region: runtime.region,
    endpoint: runtime.dynamodbEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return new DynamoDbStore(client, runtime.tableName);
}

export function sqsOf(runtime: TestRuntime, region: string): SQSClient {
  return new SQSClient({
    region,
    endpoint: runtime.sqsEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** Everything the session still holds beyond its history, described; empty once released. */
export async function leftovers(store: Store, sessionId: string): Promise<string[]> {
  const left: string[] = [];
  const items = await store.query(keys.session(sessionId).pk);
  if (!items.some((i) => i.sk === 'SESSION')) left.push('no session record at all');
  for (const i of items) {
    if (i.sk === 'SESSION' && i.state !== 'closed') left.push(`session ${i.state}`);
    else if (i.sk === 'SESSION' && i.clientConnectionId)
      left.push(`client connection ${i.clientConnectionId}`);
    else if (i.sk.startsWith('CHILD#') && i.state !== 'closed') left.push(`${i.sk} ${i.state}`);
    else if (i.sk.startsWith('SPLIT#') && i.status !== 'retired') left.push(`${i.sk} ${i.status}`);
    else if (!/^(SESSION|CHILD#|SPLIT#)/.test(i.sk)) left.push(i.sk);
  }
  for (const r of await store.listByKind(KINDS.queueSplit)) {
    if (r.sessionId === sessionId) left.push(`registration ${r.pk}/${r.sk}`);
  }
  for (const c of await store.listByKind(KINDS.connection)) {
    if (c.sessionId === sessionId) left.push(`connection record ${c.pk}`);
  }
  return left;
}

export async function queueExists(sqs: SQSClient, url: string): Promise<boolean> {
  try {
    await sqs.send(new GetQueueUrlCommand({ QueueName: url.split('/').pop()! }));
    return true;
  } catch (err) {
    if (isQueueGone(err)) return false;
    throw err;
  }
}

/** Waits until the session holds nothing and its output queue is deleted; says what is left on timeout. */
export async function waitReleased(
  store: Store,
  outputSqs: SQSClient,
  sessionId: string,
  outputQueueUrl: string | undefined,
  timeoutMs = 15_000,
): Promise<void> {
  let last: string[] = [];
  try {
    await eventually(
      async () => {
        last = await leftovers(store, sessionId);
        if (outputQueueUrl && (await queueExists(outputSqs, outputQueueUrl))) last.push('output queue');
        return last.length === 0;
      },
      timeoutMs,
      `session ${sessionId} to be released`,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; still held: ${last.join(', ')}`);
  }
}

export async function sendMatching(
  sqs: SQSClient,
  url: string,
  body: string,
  customer = 'acme',
): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: body,
      MessageAttributes: { customer: { DataType: 'String', StringValue: customer } },
    }),
  );
}

/** Receives (and deletes nothing) until every body in `want` was seen on the queue. */
export async function waitBodies(
  sqs: SQSClient,
  url: string,
  want: string[],
  timeoutMs = 15_000,
): Promise<Message[]> {
  const seen: Message[] = [];
  await eventually(
    async () => {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: 60,
          MessageAttributeNames: ['All'],
        }),
      );
      seen.push(...(out.Messages ?? []));
      const bodies = new Set(seen.map((m) => m.Body));
      return want.every((b) => bodies.has(b));
    },
    timeoutMs,
    `${want.join(', ')} on ${url}`,
  );
  return seen;
}
