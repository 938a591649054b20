/**
 * The environment contract of every function. The CDK stack sets these on Lambda; the local
 * runtime sets the same names before it loads the same handler files.
 */
export const ENV = {
  /** The AWS account the stack deploys to: the account of queues named without an ARN. */
  account: 'SWITCHYARD_ACCOUNT',
  /** DynamoDB table name. */
  table: 'SWITCHYARD_TABLE',
  /** The table's region, when it is not the function's own (splitter stacks in other regions). */
  tableRegion: 'SWITCHYARD_TABLE_REGION',
  /**
   * The deployment stage (CDK context `stage`; `local` in the local runtime). Output queues are
   * named `switchyard-<stage>_<session>-<queue>`, the only queues the stage's roles may manage.
   * Unset: `local` (shared/split/model.ts DEFAULT_STAGE).
   */
  stage: 'SWITCHYARD_STAGE',
  /** The topology (switchyard.config.json contents) as JSON. */
  topology: 'SWITCHYARD_TOPOLOGY',
  /**
   * API Gateway management endpoint for posting to WebSocket connections
   * (https://{id}.execute-api.{region}.amazonaws.com/{stage}). Functions that post (http, ws,
   * reconciler) have it; the splitter, which posts nothing, does not.
   */
  wsManagementEndpoint: 'SWITCHYARD_WS_ENDPOINT',
  /** Local runtime only: endpoint overrides for the embedded DynamoDB and SQS. */
  dynamodbEndpoint: 'SWITCHYARD_DYNAMODB_ENDPOINT',
  sqsEndpoint: 'SWITCHYARD_SQS_ENDPOINT',
  /**
   * The ARN of each queue the user owns in another account, by queue name, as JSON (CDK context
   * `queueArns`); optional: unset, every queue is in the function's own account.
   */
  queueArns: 'SWITCHYARD_QUEUE_ARNS',
  /** Router settings as JSON (lease, heartbeat and drain durations); optional, defaults apply. */
  settings: 'SWITCHYARD_SETTINGS',
  /** Log level for the Powertools logger. */
  logLevel: 'POWERTOOLS_LOG_LEVEL',
} as const;
