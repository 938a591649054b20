import * as z from 'zod';
import { parseSettings } from '../shared/config/settings.ts';
import { STAGE_PATTERN } from '../shared/split/model.ts';
import { DeploymentConfigError } from './errors.ts';

/**
 * Deployment options read from CDK context (`cdk.json` or `cdk deploy -c key=value`). Values given
 * with `-c` arrive as strings, so numbers are coerced and maps are accepted as JSON text.
 */
const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as eu-west-1');
const queueName = z.string().regex(/^[A-Za-z0-9_-]{1,80}(\.fifo)?$/, 'an SQS queue name');
/** `arn:<partition>:kms:<region>:<account>:key/<id>` or `...:alias/<name>`; queue-facts.ts checks the rest. */
const kmsKeyArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:(key\/[A-Za-z0-9-]{1,128}|alias\/[A-Za-z0-9/_-]{1,250})$/,
    'a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>) or alias ARN (arn:aws:kms:<region>:<account>:alias/<name>)',
  );
/** `arn:<partition>:sqs:<region>:<account>:<name>`; splitter-plan.ts checks it against the topology. */
const sqsQueueArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:sqs:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$/,
    'an SQS queue ARN (arn:aws:sqs:<region>:<12-digit account>:<queue name>)',
  );
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** A JSON object given either as an object (cdk.json) or as JSON text (`-c key='{"a":1}'`). */
const jsonObject = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' ? JSON.parse(v) : v), schema);

/** CloudWatch Logs accepts only these retention periods. */
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653];

export const DeployContextSchema = z.object({
  /** Names every resource (`switchyard-<stage>`); `dev` turns table deletion protection off. */
  stage: z
    .string()
    .regex(STAGE_PATTERN, 'lowercase letters, digits and "-", starting with a letter, at most 20 chars')
    .default('dev'),
  /** The topology file. */
  config: z.string().min(1).default('switchyard.config.json'),
  account: z
    .string()
    .regex(/^\d{12}$/, 'a 12-digit AWS account id')
    .optional(),
  /** Region of the router stack; defaults to the topology's `region`. */
  region: region.optional(),
  logLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
  logRetentionDays: z.coerce
    .number()
    .refine((d) => RETENTION_DAYS.includes(d), `one of ${RETENTION_DAYS.join(', ')}`)
    .default(30),
  /** Router settings (shared/config/settings.ts), validated here so a typo fails the synth. */
  settings: jsonObject(z.record(z.string(), z.unknown())).optional(),
  /**
   * Put the AWS SDK inside each function's bundle (the versions the tests ran against) instead of
   * using the copy the Lambda runtime ships. Bundles grow by about 370 KB; see docs/deploy.md.
   */
  bundleAwsSdk: z
    .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
    .default(false),
  splitterTimeoutSecs: int(1, 900).default(10),
  splitterMemoryMb: int(128, 10240).default(512),
  splitterBatchSize: int(1, 10_000).default(10),
  splitterMaxBatchingWindowSecs: int(0, 300).default(0),
  splitterMaxConcurrency: int(2, 1000).default(5),
  /** ARN of each source queue or user-owned fallback in another account, by queue name; see queue-facts.ts. */
  queueArns: jsonObject(z.record(queueName, sqsQueueArn)).default({}),
  /** Visibility timeout (seconds) of each source queue by name; see queue-facts.ts. */
  queueVisibilityTimeouts: jsonObject(z.record(queueName, int(0, 43_200))).default({}),
  /** Dead-letter queue of each source queue by name (same region), for the depth alarm. */
  deadLetterQueues: jsonObject(z.record(queueName, queueName)).default({}),
  /** KMS key (key or alias ARN) of each SSE-KMS source queue or user-owned fallback, by queue name. */
  queueKmsKeys: jsonObject(z.record(queueName, kmsKeyArn)).default({}),
  /** Alarm when a source queue's oldest message is older than this. */
  queueAgeAlarmSecs: int(60, 1_209_600).default(300),
  /** Name of an SNS topic, present in every region deployed to, that receives alarm notifications. */
  alarmTopicName: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,256}$/, 'an SNS topic name')
    .optional(),
});
export type DeployContext = z.infer<typeof DeployContextSchema>;

export const CONTEXT_KEYS = Object.keys(DeployContextSchema.shape) as (keyof DeployContext)[];

/** Parses the context values; every problem is listed at once, each naming its key. */
export function parseDeployContext(values: Record<string, unknown>): DeployContext {
  const input = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
  let parsed: ReturnType<typeof DeployContextSchema.safeParse>;
  try {
    parsed = DeployContextSchema.safeParse(input);
  } catch (err) {
    throw new DeploymentConfigError(`CDK context: a JSON value does not parse: ${(err as Error).message}`);
  }
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - context "${i.path.join('.')}": ${i.message}`);
    throw new DeploymentConfigError(`invalid CDK context:\n${lines.join('\n')}`);
  }
  if (parsed.data.settings) {
    try {
      parseSettings(parsed.data.settings);
    } catch (err) {
      throw new DeploymentConfigError(
        `context "settings" is not valid router settings: ${(err as Error).message}`,
      );
    }
  }
  return parsed.data;
}
