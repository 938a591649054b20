import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { type SplitContext, sqsIn } from './context.ts';
import { queueOwner } from './topology-queues.ts';

/**
 * Queue URLs by region and name, looked up once per process: the topology names the fallback
 * queues, SQS wants URLs, and a lookup per batch would double the splitter's SQS calls.
 */
export class QueueUrls {
  private readonly urls = new Map<string, Promise<string>>();

  constructor(private readonly ctx: Pick<SplitContext, 'sqs' | 'sqsFor' | 'queueArns'>) {}

  get(region: string, name: string): Promise<string> {
    const key = `${region}/${name}`;
    let url = this.urls.get(key);
    if (!url) {
      // Without an owner GetQueueUrl looks in the function's own account; never the source queue's:
      // a fallback the stack creates is in the stack's account, wherever the source queue is.
      url = this.lookup(region, name, queueOwner(this.ctx.queueArns, region, name));
      this.urls.set(key, url);
      url.catch(() => this.urls.delete(key));
    }
    return url;
  }

  /** Forget a URL SQS reported missing (the queue may be recreated under a new URL). */
  forget(region: string, name: string): void {
    this.urls.delete(`${region}/${name}`);
  }

  private async lookup(region: string, name: string, account?: string): Promise<string> {
    const out = await sqsIn(this.ctx, region).send(
      new GetQueueUrlCommand({
        QueueName: name,
        ...(account && /^\d{12}$/.test(account) ? { QueueOwnerAWSAccountId: account } : {}),
      }),
    );
    if (!out.QueueUrl) throw new Error(`GetQueueUrl ${name} (${region}) returned no QueueUrl`);
    return out.QueueUrl;
  }
}
