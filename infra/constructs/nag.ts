import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag (AwsSolutionsChecks) runs on every synth (infra/app.ts) and in the tests. Each finding
 * that stays is acknowledged here, on the construct it concerns, with the reason it is right.
 */
export function acknowledge(scope: IConstruct, rule: string, reason: string, finding?: string): void {
  Validations.of(scope).acknowledge({
    id: `AwsSolutions::AwsSolutions-${rule}${finding ? `[${finding}]` : ''}`,
    reason,
  });
}

/** Acknowledges IAM5 (a wildcard) for one resource ARN, rendered as cdk-nag names the finding. */
export function acknowledgeWildcardResource(scope: IConstruct, arn: string, reason: string): void {
  acknowledge(scope, 'IAM5', reason, `Resource::${renderIntrinsic(Stack.of(scope).resolve(arn))}`);
}

/**
 * A resolved CloudFormation value as text: `Ref X` becomes `<X>`, `Fn::GetAtt [X, a]` becomes
 * `<X.a>`, `Fn::Join` concatenates. The tests use it too, to compare ARNs exactly.
 */
export function renderIntrinsic(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (typeof v.Ref === 'string') return `<${v.Ref}>`;
    if (Array.isArray(v['Fn::GetAtt'])) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
    if (Array.isArray(v['Fn::Join'])) {
      const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(renderIntrinsic).join(sep);
    }
  }
  return JSON.stringify(value);
}

export const NAG_REASONS = {
  routeAuthorization:
    "Every caller is authenticated by a bearer token whose SHA-256 hash must exist in the table (shared/auth/tokens.ts), checked before any work. On the WebSocket API the $connect route has a Lambda authorizer (the ws function) and a connection it refuses never opens; API Gateway lets no other WebSocket route have an authorizer, and $default and $disconnect events carry the identity the authorizer found for their connection. The HTTP API's function checks the token of every request itself; a Lambda authorizer would repeat the same table lookup.",
  connectionsWildcard:
    'Connection ids are assigned by API Gateway at run time, so they cannot be listed; the ARN is limited to this WebSocket API, this stage, and one method: POST (send to a connection) or DELETE (close it).',
  outputQueuesWildcard:
    'Output queues are created per session at run time, so their names cannot be listed; the wildcard is limited to this stage\'s output queues ("switchyard-<stage>_", a prefix no other stage and no fallback queue shares) in one region of this account. Fallback queues are granted by exact ARN.',
  kmsAliasKeys:
    'The queue\'s KMS key was given by alias ARN (context "queueKmsKeys"), and IAM cannot name a key by alias: the resource is the keys of the alias\'s account and region, and the kms:ResourceAliases condition limits it to the key carrying that alias. Give the key ARN instead to grant that key alone.',
  nodeRuntime:
    'The project pins Node 22 (its bundles target node22 and its tests run against it); a runtime move is a deliberate change with a test run, not an implicit one.',
  fallbackWithoutDlq:
    'A fallback queue stands in for the source queue while splitting is on, and the source queue has no dead-letter queue configured (context "deadLetterQueues"): giving only the fallback one would change how the consumer sees failing messages. With a configured DLQ the fallback redrives to it.',
} as const;
