import { ArnFormat, Stack } from 'aws-cdk-lib';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { clusterRegion, type Topology } from '../../shared/config/topology.ts';
import { OWNED_QUEUE_PREFIX } from '../splitter-plan.ts';

/** ARN of a queue by name in a region of this stack's account. */
export function queueArn(scope: Construct, region: string, name: string): string {
  return Stack.of(scope).formatArn({
    service: 'sqs',
    region,
    resource: name,
    arnFormat: ArnFormat.NO_RESOURCE_NAME,
  });
}

/** Every queue Switchyard owns in a region: fallbacks it created and the sessions' output queues. */
export const ownedQueuesArn = (scope: Construct, region: string): string =>
  queueArn(scope, region, `${OWNED_QUEUE_PREFIX}*`);

/**
 * The router creates each session's output queue, drains it when the session ends and deletes
 * it: lifecycle and message calls, on Switchyard's own queues only.
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

export function routerQueueAccess(scope: Construct, outputRegion: string): PolicyStatement {
  return new PolicyStatement({
    effect: Effect.ALLOW,
    actions: ROUTER_QUEUE_ACTIONS,
    resources: [ownedQueuesArn(scope, outputRegion)],
  });
}

/** Forwarding to a queue known by name: resolve its URL, send. */
export const SEND_ACTIONS = ['sqs:SendMessage', 'sqs:GetQueueUrl'];

export function sendAccess(resources: string[]): PolicyStatement {
  return new PolicyStatement({ effect: Effect.ALLOW, actions: SEND_ACTIONS, resources });
}

/** Every cluster's fallback queue, by exact ARN (each in its cluster's region). */
export function fallbackQueueArns(scope: Construct, topology: Topology): string[] {
  return topology.clusters.flatMap((c) =>
    c.queues.map((q) => queueArn(scope, clusterRegion(topology, c), q.fallback)),
  );
}
