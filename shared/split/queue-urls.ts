import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { type SplitContext, sqsIn } from './context.ts';
import { parseQueueArn } from './topology-queues.ts';

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
      url = this.lookup(region, name, this.ownerOf(region, name));
      this.urls.set(key, url);
      url.catch(() => this.urls.delete(key));
    }
    return url;
  }

  /** Forget a URL SQS reported missing (the queue may be recreated under a new URL). */
  forget(region: string, name: string): void {
    this.urls.delete(`${region}/${name}`);
  }

  /**
   * The account of a queue of another account (`queueArns`); undefined for the function's own
   * account, which is where GetQueueUrl looks without an owner. Never the source queue's account:
   * a fallback the stack creates is in the stack's account, wherever the source queue is.
   */
  private ownerOf(region: string, name: string): string | undefined {
    const arn = this.ctx.queueArns?.[name];
    const parsed = arn === undefined ? undefined : parseQueueArn(arn);
    return parsed && parsed.region === region && parsed.name === name ? parsed.account : undefined;
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
