import {
  type AttributeValue,
  BatchWriteItemCommand,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';

/**
 * The DynamoDB operations the store calls, in DynamoDB's own JSON (attribute values typed as
 * `{ S: ... }`, `{ N: ... }`): the store marshals, the transport only carries. Two transports:
 * the SDK's client (`sdkDynamoApi`: tests, tools, anything holding a `DynamoDBClient`) and the
 * router's lean signed client (`functions/lib/dynamodb-client.ts`). A refused call throws an
 * `Error` whose `name` is DynamoDB's error type (`ConditionalCheckFailedException`,
 * `ValidationException`, ...), whichever transport carried it.
 */
export type DynamoOperation =
  | 'GetItem'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'Query'
  | 'BatchWriteItem';

export interface DynamoApi {
  call(operation: DynamoOperation, input: Record<string, unknown>): Promise<DynamoOutput>;
}

/** The fields of the answers the store reads. */
export interface DynamoOutput {
  Item?: WireItem;
  Attributes?: WireItem;
  Items?: WireItem[];
  LastEvaluatedKey?: WireItem;
  UnprocessedItems?: Record<string, { PutRequest?: { Item: WireItem } }[]>;
}

/** An item as DynamoDB's JSON protocol carries it. */
export type WireItem = Record<string, AttributeValue>;

const commands = {
  GetItem: GetItemCommand,
  PutItem: PutItemCommand,
  UpdateItem: UpdateItemCommand,
  DeleteItem: DeleteItemCommand,
  Query: QueryCommand,
  BatchWriteItem: BatchWriteItemCommand,
} as const;

type AnyCommand = new (input: never) => Parameters<DynamoDBClient['send']>[0];

/** The SDK's low-level client as a transport (it takes and gives DynamoDB's JSON as it is). */
export function sdkDynamoApi(client: DynamoDBClient): DynamoApi {
  return {
    async call(operation, input) {
      const Command = commands[operation] as unknown as AnyCommand;
      return (await client.send(new Command(input as never))) as DynamoOutput;
    },
  };
}

/** A `DynamoDBClient` (it has `send`) or a transport. */
export function isDynamoApi(x: DynamoDBClient | DynamoApi): x is DynamoApi {
  return typeof (x as DynamoApi).call === 'function' && typeof (x as DynamoDBClient).send !== 'function';
}
