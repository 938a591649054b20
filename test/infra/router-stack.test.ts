import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../functions/lib/env.ts';
import { TABLE_REGION_ENV } from '../../infra/constructs/function-environment.ts';
import type { HandlerFunction } from '../../infra/constructs/handler-function.ts';
import { ROUTER_QUEUE_ACTIONS, SEND_ACTIONS } from '../../infra/constructs/queue-access.ts';
import { STORE_READ_ACTIONS, STORE_WRITE_ACTIONS } from '../../infra/constructs/state-table.ts';
import { DeploymentConfigError } from '../../infra/errors.ts';
import type { RouterStack } from '../../infra/router-stack.ts';
import { ACCOUNT, build, logicalId, MIXED, statementsOfRole, templateOf, text } from './fixtures.ts';

describe('router stack', () => {
  let router: RouterStack;
  let template: ReturnType<typeof templateOf>;

  beforeAll(() => {
    router = build().deployment.router;
    template = templateOf(router);
  });

  it('is in the topology region and the given account', () => {
    expect(router.region).toBe('us-east-1');
    expect(router.account).toBe(ACCOUNT);
  });

  describe('table', () => {
    it('has the store schema: pk/sk strings, byKind (kind, pk, ALL), on demand', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        TableName: 'switchyard-dev',
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: Match.arrayEquals([
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'kind', AttributeType: 'S' },
        ]),
        GlobalSecondaryIndexes: [
          {
            IndexName: 'byKind',
            KeySchema: [
              { AttributeName: 'kind', KeyType: 'HASH' },
              { AttributeName: 'pk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      });
    });

    it('has point-in-time recovery, TTL on `ttl`, and is retained', () => {
      template.hasResource('AWS::DynamoDB::Table', {
        Properties: Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        }),
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    });

    it.each([
      ['dev', false],
      ['prod', true],
      ['staging', true],
    ])('stage %s has deletion protection %s', (stage, on) => {
      const t = templateOf(build({ context: { stage } }).deployment.router);
      t.hasResourceProperties('AWS::DynamoDB::Table', {
        TableName: `switchyard-${stage}`,
        DeletionProtectionEnabled: on,
      });
    });
  });

  describe('functions', () => {
    it.each(['http', 'ws', 'reconciler'] as const)(
      '%s runs Node 22 on arm64 from its handler file',
      (name) => {
        const fn = router[name];
        template.hasResourceProperties('AWS::Lambda::Function', {
          FunctionName: Match.absent(),
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          Handler: 'index.handler',
          Role: { 'Fn::GetAtt': [logicalId(router, fn.role), 'Arn'] },
          LoggingConfig: { LogGroup: { Ref: logicalId(router, fn.logGroup) } },
        });
        expect(
          template.findResources('AWS::Lambda::Function', { Properties: { Runtime: 'nodejs22.x' } }),
        ).toSatisfy((r: object) => Object.keys(r).includes(logicalId(router, fn.fn)));
      },
    );

    it("refuses a topology that would not fit Lambda's 4 KB environment, naming what to shrink", () => {
      const cluster = (i: number) => ({
        id: `workload-cluster-number-${i}`,
        roles: ['workload'],
        queues: [
          {
            name: `orders-${i}`,
            source: `a-rather-long-source-queue-name-for-cluster-${i}`,
            fallback: `a-rather-long-fallback-queue-name-for-cluster-${i}`,
          },
        ],
      });
      const topology = {
        region: 'us-east-1',
        clusters: [
          { id: 'east', roles: ['primary', 'workload', 'default'] },
          ...Array.from({ length: 30 }, (_, i) => cluster(i)),
        ],
      };
      expect(() => build({ topology })).toThrow(DeploymentConfigError);
      expect(() => build({ topology })).toThrow(
        /above Lambda's 4 KB limit[\s\S]*SWITCHYARD_TOPOLOGY: \d+ bytes, from the topology file/,
      );
    });

    it('gives every function the environment contract', () => {
      const fns = template.findResources('AWS::Lambda::Function');
      expect(Object.keys(fns)).toHaveLength(3);
      for (const fn of Object.values(fns)) {
        const env = fn.Properties.Environment.Variables;
        expect(env[ENV.table]).toEqual({ Ref: logicalId(router, router.table) });
        expect(env[TABLE_REGION_ENV]).toBe('us-east-1');
        expect(JSON.parse(env[ENV.topology]).clusters.map((c: { id: string }) => c.id)).toEqual([
          'east',
          'west',
        ]);
        expect(env[ENV.logLevel]).toBe('INFO');
        expect(env[ENV.stage]).toBe('dev');
        expect(env[ENV.account]).toBe(ACCOUNT);
        expect(env.NODE_OPTIONS).toBe('--enable-source-maps');
        expect(text(router, env[ENV.wsManagementEndpoint])).toBe(
          `https://<${logicalId(router, router.webSocketApi)}>.execute-api.us-east-1.<AWS::URLSuffix>/dev`,
        );
        expect(env[ENV.settings]).toBeUndefined();
      }
    });

    it('passes router settings from context, validated', () => {
      const r = build({ context: { settings: '{"leaseMs":20000}' } }).deployment.router;
      const fns = Object.values(templateOf(r).findResources('AWS::Lambda::Function'));
      for (const fn of fns) {
        expect(JSON.parse(fn.Properties.Environment.Variables[ENV.settings])).toEqual({ leaseMs: 20000 });
      }
      expect(() => build({ context: { settings: { leaseMs: 10 } } })).toThrow(/settings/);
    });

    it('creates each log group explicitly with the retention', () => {
      template.resourceCountIs('AWS::Logs::LogGroup', 5); // 3 functions + 2 access logs
      template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
      const t = templateOf(build({ context: { logRetentionDays: '90' } }).deployment.router);
      t.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    });

    it('runs the reconciler every minute, without retries', () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [logicalId(router, router.reconciler.fn), 'Arn'] },
            RetryPolicy: { MaximumRetryAttempts: 0 },
          }),
        ],
      });
    });
  });

  describe('APIs', () => {
    it('routes every HTTP request to the http function (payload v2)', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        ApiId: { Ref: logicalId(router, router.httpApi) },
        RouteKey: '$default',
      });
      template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
        ApiId: { Ref: logicalId(router, router.httpApi) },
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [logicalId(router, router.http.fn), 'Arn'] },
      });
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        ApiId: { Ref: logicalId(router, router.httpApi) },
        StageName: '$default',
        AutoDeploy: true,
        AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
      });
    });

    it('routes $connect, $disconnect and $default to the ws function, on an auto-deployed stage', () => {
      const api = logicalId(router, router.webSocketApi);
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET' });
      const routes = template.findResources('AWS::ApiGatewayV2::Route', {
        Properties: { ApiId: { Ref: api } },
      });
      expect(Object.values(routes).map((r) => r.Properties.RouteKey)).toEqual(
        expect.arrayContaining(['$connect', '$disconnect', '$default']),
      );
      expect(Object.keys(routes)).toHaveLength(3);
      // Replies go through @connections: no route answers with the integration's response.
      template.resourceCountIs('AWS::ApiGatewayV2::RouteResponse', 0);
      const integrations = template.findResources('AWS::ApiGatewayV2::Integration', {
        Properties: { ApiId: { Ref: api } },
      });
      expect(Object.keys(integrations)).toHaveLength(3);
      for (const i of Object.values(integrations)) {
        expect(text(router, i.Properties.IntegrationUri)).toContain(
          `<${logicalId(router, router.ws.fn)}.Arn>`,
        );
      }
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        ApiId: { Ref: api },
        StageName: 'dev',
        AutoDeploy: true,
        AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
      });
    });

    it('authorizes $connect (and no other route) with the ws function as a REQUEST authorizer', () => {
      const api = logicalId(router, router.webSocketApi);
      const authorizers = template.findResources('AWS::ApiGatewayV2::Authorizer');
      expect(Object.keys(authorizers)).toHaveLength(1);
      const [[authorizerId, authorizer]] = Object.entries(authorizers) as [
        [string, { Properties: Record<string, unknown> }],
      ];
      expect(authorizer.Properties).toMatchObject({
        ApiId: { Ref: api },
        AuthorizerType: 'REQUEST',
        IdentitySource: ['route.request.header.Authorization'],
      });
      expect(text(router, authorizer.Properties.AuthorizerUri)).toBe(
        `arn:<AWS::Partition>:apigateway:us-east-1:lambda:path/2015-03-31/functions/<${logicalId(router, router.ws.fn)}.Arn>/invocations`,
      );
      const routes = template.findResources('AWS::ApiGatewayV2::Route', {
        Properties: { ApiId: { Ref: api } },
      });
      const auth = Object.fromEntries(
        Object.values(routes).map((r) => [
          r.Properties.RouteKey,
          [r.Properties.AuthorizationType, r.Properties.AuthorizerId],
        ]),
      );
      expect(auth).toEqual({
        $connect: ['CUSTOM', { Ref: authorizerId }],
        $disconnect: ['NONE', undefined],
        $default: ['NONE', undefined],
      });
      // API Gateway may invoke the function as that authorizer.
      const permissions = Object.values(template.findResources('AWS::Lambda::Permission')).filter((p) =>
        text(router, p.Properties.SourceArn).endsWith(`/authorizers/<${authorizerId}>`),
      );
      expect(permissions).toHaveLength(1);
      expect(permissions[0]!.Properties).toMatchObject({
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [logicalId(router, router.ws.fn), 'Arn'] },
      });
      expect(text(router, permissions[0]!.Properties.SourceArn)).toBe(
        `arn:<AWS::Partition>:execute-api:us-east-1:${ACCOUNT}:<${api}>/authorizers/<${authorizerId}>`,
      );
    });

    it('outputs the HTTP URL, the WebSocket URL and the table name', () => {
      const outputs = template.findOutputs('*');
      expect(text(router, outputs.HttpUrl?.Value)).toBe(
        `https://<${logicalId(router, router.httpApi)}>.execute-api.us-east-1.<AWS::URLSuffix>/`,
      );
      expect(text(router, outputs.WebSocketUrl?.Value)).toBe(
        `wss://<${logicalId(router, router.webSocketApi)}>.execute-api.us-east-1.<AWS::URLSuffix>/dev`,
      );
      expect(outputs.TableName?.Value).toEqual({ Ref: logicalId(router, router.table) });
    });
  });

  describe('least privilege', () => {
    const logs = (fn: HandlerFunction) => ({
      effect: 'Allow',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [`<${logicalId(router, fn.logGroup)}.Arn>`],
    });
    const tableStatements = () => {
      const table = `<${logicalId(router, router.table)}.Arn>`;
      return [
        { effect: 'Allow', actions: [...STORE_READ_ACTIONS, ...STORE_WRITE_ACTIONS], resources: [table] },
        { effect: 'Allow', actions: ['dynamodb:Query'], resources: [`${table}/index/byKind`] },
      ];
    };
    const connections = () => ({
      effect: 'Allow',
      actions: ['execute-api:ManageConnections'],
      resources: ['POST', 'DELETE'].map(
        (method) =>
          `arn:<AWS::Partition>:execute-api:us-east-1:${ACCOUNT}:<${logicalId(router, router.webSocketApi)}>/dev/${method}/@connections/*`,
      ),
    });
    const outputQueues = (region: string, stage = 'dev') => ({
      effect: 'Allow',
      actions: ROUTER_QUEUE_ACTIONS,
      resources: [`arn:<AWS::Partition>:sqs:${region}:${ACCOUNT}:switchyard-${stage}_*`],
    });

    it("http: logs, table, its API connections, its stage's output queues in the output region", () => {
      expect(statementsOfRole(router, logicalId(router, router.http.role))).toEqual([
        logs(router.http),
        ...tableStatements(),
        connections(),
        outputQueues('us-east-1'),
      ]);
    });

    it('ws: logs, table, its API connections; no queue access', () => {
      expect(statementsOfRole(router, logicalId(router, router.ws.role))).toEqual([
        logs(router.ws),
        ...tableStatements(),
        connections(),
      ]);
    });

    it('reconciler: like http, plus sending leftovers back to each fallback queue, by exact ARN', () => {
      expect(statementsOfRole(router, logicalId(router, router.reconciler.role))).toEqual([
        logs(router.reconciler),
        ...tableStatements(),
        connections(),
        outputQueues('us-east-1'),
        {
          effect: 'Allow',
          actions: SEND_ACTIONS,
          resources: [
            `arn:<AWS::Partition>:sqs:us-east-1:${ACCOUNT}:switchyard-east-orders-fallback`,
            `arn:<AWS::Partition>:sqs:us-west-2:${ACCOUNT}:switchyard-west-orders-fallback`,
          ],
        },
      ]);
    });

    it('scopes queue management to the default cluster region and returns to every fallback, imported ones too', () => {
      const r = build({ topology: MIXED }).deployment.router;
      const statements = statementsOfRole(r, logicalId(r, r.http.role));
      expect(statements.filter((s) => s.actions.includes('sqs:CreateQueue'))).toEqual([
        outputQueues('eu-west-1'),
      ]);
      const returns = statementsOfRole(r, logicalId(r, r.reconciler.role)).filter(
        (s) => s.actions.includes('sqs:SendMessage') && !s.actions.includes('sqs:CreateQueue'),
      );
      expect(returns.flatMap((s) => s.resources)).toEqual([
        `arn:<AWS::Partition>:sqs:eu-west-1:${ACCOUNT}:switchyard-eu-orders-fallback`,
        `arn:<AWS::Partition>:sqs:eu-west-1:${ACCOUNT}:switchyard-eu-payments-fallback.fifo`,
        `arn:<AWS::Partition>:sqs:ap-southeast-2:${ACCOUNT}:ap-orders-fallback`,
      ]);
    });

    it("returns leftovers to a user's fallback in another account by the ARN of context queueArns", () => {
      const fallback = 'arn:aws:sqs:ap-southeast-2:444455556666:ap-orders-fallback';
      const r = build({
        topology: MIXED,
        context: {
          queueArns: {
            'ap-orders': 'arn:aws:sqs:ap-southeast-2:444455556666:ap-orders',
            'ap-orders-fallback': fallback,
          },
        },
      }).deployment.router;
      const returns = statementsOfRole(r, logicalId(r, r.reconciler.role)).filter(
        (s) => s.actions.includes('sqs:SendMessage') && !s.actions.includes('sqs:CreateQueue'),
      );
      expect(returns).toEqual([
        {
          effect: 'Allow',
          actions: SEND_ACTIONS,
          resources: [
            `arn:<AWS::Partition>:sqs:eu-west-1:${ACCOUNT}:switchyard-eu-orders-fallback`,
            `arn:<AWS::Partition>:sqs:eu-west-1:${ACCOUNT}:switchyard-eu-payments-fallback.fifo`,
            fallback,
          ],
        },
      ]);
      // The reconciler looks the fallback's URL up in its owner's account.
      const fn = templateOf(r).findResources('AWS::Lambda::Function')[logicalId(r, r.reconciler.fn)];
      expect(JSON.parse(fn?.Properties.Environment.Variables[ENV.queueArns])).toMatchObject({
        'ap-orders-fallback': fallback,
      });
      // Without the context, no function carries the variable.
      for (const f of Object.values(templateOf(router).findResources('AWS::Lambda::Function'))) {
        expect(f.Properties.Environment.Variables[ENV.queueArns]).toBeUndefined();
      }
    });

    it('scopes each stage to its own output queues: two stages in one account share no queue', () => {
      const queueResources = (stage: string) => {
        const r = build({ context: { stage } }).deployment.router;
        const statements = statementsOfRole(r, logicalId(r, r.http.role));
        const functions = Object.values(templateOf(r).findResources('AWS::Lambda::Function'));
        for (const fn of functions) expect(fn.Properties.Environment.Variables[ENV.stage]).toBe(stage);
        return statements.filter((s) => s.actions.some((a) => a.startsWith('sqs:')));
      };
      expect(queueResources('prod')).toEqual([outputQueues('us-east-1', 'prod')]);
      // `dev_*` does not match `dev-2_...`, nor `dev-2_*` any `dev_...` name.
      expect(queueResources('dev-2')).toEqual([outputQueues('us-east-1', 'dev-2')]);
      expect(queueResources('dev')).toEqual([outputQueues('us-east-1', 'dev')]);
    });

    describe('KMS-encrypted fallback queues (context queueKmsKeys)', () => {
      const KEY = `arn:aws:kms:ap-southeast-2:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
      const SOURCE_KEY = `arn:aws:kms:ap-southeast-2:${ACCOUNT}:key/mrk-0123456789abcdef0123456789abcdef`;
      const kmsStatements = (r: RouterStack, fn: HandlerFunction) =>
        statementsOfRole(r, logicalId(r, fn.role)).filter((s) => s.actions.some((a) => a.startsWith('kms:')));

      it("lets the reconciler send to the user's encrypted fallback with its exact key, and nothing else", () => {
        const r = build({
          topology: MIXED,
          // The source queue's key is the splitter's business: the router never reads a source queue.
          context: { queueKmsKeys: { 'ap-orders-fallback': KEY, 'ap-orders': SOURCE_KEY } },
        }).deployment.router;
        expect(kmsStatements(r, r.reconciler)).toEqual([
          { effect: 'Allow', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [KEY] },
        ]);
        expect(kmsStatements(r, r.http)).toEqual([]);
        expect(kmsStatements(r, r.ws)).toEqual([]);
      });

      it('grants a key given by alias ARN as the keys of its region that carry the alias', () => {
        const alias = `arn:aws:kms:ap-southeast-2:${ACCOUNT}:alias/orders/fallback`;
        const r = build({ topology: MIXED, context: { queueKmsKeys: { 'ap-orders-fallback': alias } } })
          .deployment.router;
        expect(kmsStatements(r, r.reconciler)).toEqual([
          {
            effect: 'Allow',
            actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
            resources: [`arn:aws:kms:ap-southeast-2:${ACCOUNT}:key/*`],
            condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/orders/fallback' } },
          },
        ]);
      });

      it('has no KMS statement without encrypted queues', () => {
        for (const fn of [router.http, router.ws, router.reconciler])
          expect(kmsStatements(router, fn)).toEqual([]);
      });
    });

    it('has no managed policies on the function roles', () => {
      for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      }
    });
  });

  describe('alarms', () => {
    it('watches function errors, WebSocket integration/execution errors and HTTP 5xx', () => {
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
      const byMetric = alarms.map((a) => `${a.Namespace}/${a.MetricName}`).sort();
      expect(byMetric).toEqual(
        [
          'AWS/ApiGateway/5xx',
          'AWS/ApiGateway/ExecutionError',
          'AWS/ApiGateway/IntegrationError',
          'AWS/Lambda/Errors',
          'AWS/Lambda/Errors',
          'AWS/Lambda/Errors',
        ].sort(),
      );
      const ws = alarms.find((a) => a.MetricName === 'IntegrationError');
      expect(ws.Dimensions).toEqual(
        expect.arrayContaining([
          { Name: 'ApiId', Value: { Ref: logicalId(router, router.webSocketApi) } },
          { Name: 'Stage', Value: 'dev' },
        ]),
      );
      for (const a of alarms) {
        expect(a.AlarmActions).toBeUndefined();
        expect(a.TreatMissingData).toBe('notBreaching');
      }
    });

    it('notifies the SNS topic named in context, in the stack region', () => {
      const t = templateOf(build({ context: { alarmTopicName: 'ops-pager' } }).deployment.router);
      const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm'));
      expect(alarms.length).toBeGreaterThan(0);
      for (const a of alarms) {
        const expected = [`arn:<AWS::Partition>:sns:us-east-1:${ACCOUNT}:ops-pager`];
        expect(a.Properties.AlarmActions.map((x: unknown) => text(router, x))).toEqual(expected);
        expect(a.Properties.OKActions.map((x: unknown) => text(router, x))).toEqual(expected);
      }
    });
  });

  it('honours context region and account over the topology and the CLI defaults', () => {
    const r = build({ context: { region: 'eu-central-1', account: '210987654321' } }).deployment.router;
    expect(r.region).toBe('eu-central-1');
    expect(r.account).toBe('210987654321');
  });
});
