/**
 * Credentials for the runtime's own clients of the embedded DynamoDB and SQS. Those accept any
 * signature, and fixed dummies keep a developer's real AWS credentials out of local traffic.
 */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
