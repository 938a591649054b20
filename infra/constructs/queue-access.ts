import { ArnFormat, Stack } from 'aws-cdk-lib';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { clusterRegion, type Topology } from '../../shared/config/topology.ts';
import { outputQueuePrefix } from '../../shared/split/model.ts';
import { parseKmsKeyArn } from '../queue-facts.ts';

/** ARN of a queue by name in a region of this stack's account. */
export function queueArn(scope: Construct, region: string, name: string): string {
  return Stack.of(scope).formatArn({
    service: 'sqs',
    region,
    resource: name,
    arnFormat: ArnFormat.NO_RESOURCE_NAME,
  });
}

/**
 * ARN of a queue the user owns (a source queue, or a fallback without the `switchyard-` prefix):
 * as given in context `queueArns` when it lives in another account, else in this stack's account.
 */
export function userQueueArn(
  scope: Construct,
  region: string,
  name: string,
  queueArns: Readonly<Record<string, string>>,
): string {
  return queueArns[name] ?? queueArn(scope, region, name);
}

/**
 * The output queues of one stage in a region: `switchyard-<stage>_*`. A stage never holds `_`, so
 * this never matches another stage's output queues, nor a fallback queue (checked at synth).
 */
export const outputQueuesArn = (scope: Construct, region: string, stage: string): string =>
  queueArn(scope, region, `${outputQueuePrefix(stage)}*`);

/**
 * The router creates each session's output queue, drains it when the session ends and deletes
 * it: lifecycle and message calls, on its own stage's output queues only.
 */
export const ROUTER_QUEUE_ACTIONS = [
  'sqs:CreateQueue',
  'sqs:DeleteQueue',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:SendMessage',
];

export function routerQueueAccess(scope: Construct, outputRegion: string, stage: string): PolicyStatement {
  return new PolicyStatement({
    effect: Effect.ALLOW,
    actions: ROUTER_QUEUE_ACTIONS,
    resources: [outputQueuesArn(scope, outputRegion, stage)],
  });
}

/** Forwarding to a queue known by name: resolve its URL, send. */
export const SEND_ACTIONS = ['sqs:SendMessage', 'sqs:GetQueueUrl'];

export function sendAccess(resources: string[]): PolicyStatement {
  return new PolicyStatement({ effect: Effect.ALLOW, actions: SEND_ACTIONS, resources });
}

/**
 * Every cluster's fallback queue, by exact ARN (each in its cluster's region; a fallback the user
 * owns in another account by its ARN from context `queueArns`).
 */
export function fallbackQueueArns(
  scope: Construct,
  topology: Topology,
  queueArns: Readonly<Record<string, string>>,
): string[] {
  return topology.clusters.flatMap((c) =>
    c.queues.map((q) => userQueueArn(scope, clusterRegion(topology, c), q.fallback, queueArns)),
  );
}

/** Receiving from an SSE-KMS queue (the event source mapping polls with the function's role). */
export const KMS_RECEIVE_ACTIONS = ['kms:Decrypt'];
/** Sending to an SSE-KMS queue: SQS makes a data key, and decrypts it while it is cached. */
export const KMS_SEND_ACTIONS = ['kms:GenerateDataKey', 'kms:Decrypt'];

export interface KmsGrant {
  statement: PolicyStatement;
  /** Granted through an alias: the resource is `key/*`, narrowed by a `kms:ResourceAliases` condition. */
  viaAlias: boolean;
}

/**
 * Use of customer-managed KMS keys (context `queueKmsKeys`). Key ARNs are granted exactly, in one
 * statement. An alias ARN cannot name a key in IAM (as a resource it covers alias operations
 * only), so each alias is granted as the keys of its account and region that carry it.
 */
export function kmsAccess(actions: string[], keyArns: string[]): KmsGrant[] {
  const refs = [...new Set(keyArns)].map(parseKmsKeyArn);
  const keys = refs.filter((k) => !k.isAlias).map((k) => k.arn);
  const grants: KmsGrant[] = [];
  if (keys.length > 0) {
    grants.push({
      statement: new PolicyStatement({ effect: Effect.ALLOW, actions, resources: keys }),
      viaAlias: false,
    });
  }
  for (const alias of refs.filter((k) => k.isAlias)) {
    grants.push({
      statement: new PolicyStatement({
        effect: Effect.ALLOW,
        actions,
        resources: [`arn:${alias.partition}:kms:${alias.region}:${alias.account}:key/*`],
        conditions: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': alias.resource } },
      }),
      viaAlias: true,
    });
  }
  return grants;
}
