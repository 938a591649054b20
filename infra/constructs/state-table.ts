import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { TABLE_KEYS } from '../../shared/store/store.ts';

/** A fixed name, so splitter stacks in other regions can address the table without a cross-region reference. */
export const tableNameFor = (stage: string): string => `switchyard-${stage}`;

/** The stages whose table may be deleted by a `cdk destroy` followed by a manual delete. */
const UNPROTECTED_STAGES = new Set(['dev']);

export interface StateTableProps {
  stage: string;
}

/**
 * The single table (the same schema `ensureTable` creates locally): `pk`/`sk` strings, the
 * `byKind` index, on-demand, point-in-time recovery, TTL on `ttl` to collect expired items, and
 * kept when the stack goes (RETAIN): sessions and tokens outlive a redeploy.
 */
export class StateTable extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string, props: StateTableProps) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      tableName: tableNameFor(props.stage),
      partitionKey: { name: TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE_KEYS.ttlAttribute,
      deletionProtection: !UNPROTECTED_STAGES.has(props.stage),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: TABLE_KEYS.kindIndex,
      partitionKey: { name: TABLE_KEYS.kindIndexPartitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.kindIndexSortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });
  }
}

/** The table and the one index the Store queries (`listByKind`). */
export interface TableArns {
  table: string;
  kindIndex: string;
}

export const tableArnsOf = (tableArn: string): TableArns => ({
  table: tableArn,
  kindIndex: `${tableArn}/index/${TABLE_KEYS.kindIndex}`,
});

/**
 * Exactly the calls `DynamoDbStore` makes: no Scan, no batch or transactional writes, no
 * DescribeTable (`ensureTable` runs only against the local runtime).
 */
export const STORE_READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'];
export const STORE_WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];

/** Router functions read and write every item. */
export function storeReadWrite(arns: TableArns): PolicyStatement[] {
  return [
    new PolicyStatement({
      effect: Effect.ALLOW,
      actions: [...STORE_READ_ACTIONS, ...STORE_WRITE_ACTIONS],
      resources: [arns.table],
    }),
    new PolicyStatement({ effect: Effect.ALLOW, actions: ['dynamodb:Query'], resources: [arns.kindIndex] }),
  ];
}

/**
 * The splitter reads the active splits; its one write is the "lost to an earlier session"
 * counter on a split's status, so UpdateItem is limited to the split partitions. It can never
 * touch tokens, leases, clusters or connections.
 */
export const SPLITTER_WRITABLE_KEYS = ['SESSION#*', 'SPLIT#*'];

export function storeSplitterAccess(arns: TableArns): PolicyStatement[] {
  return [
    new PolicyStatement({ effect: Effect.ALLOW, actions: STORE_READ_ACTIONS, resources: [arns.table] }),
    new PolicyStatement({ effect: Effect.ALLOW, actions: ['dynamodb:Query'], resources: [arns.kindIndex] }),
    new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['dynamodb:UpdateItem'],
      resources: [arns.table],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': SPLITTER_WRITABLE_KEYS } },
    }),
  ];
}
