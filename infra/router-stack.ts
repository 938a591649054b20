import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  HttpApi,
  HttpStage,
  LogGroupLogDestination,
  WebSocketApi,
  WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration, WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ENV } from '../functions/lib/env.ts';
import { clusterRegion, defaultCluster, type Topology } from '../shared/config/topology.ts';
import { AUTHORIZER_IDENTITY_HEADER } from '../shared/relay/identity.ts';
import { ALARM_PERIOD, Alarms } from './constructs/alarms.ts';
import { functionEnvironment } from './constructs/function-environment.ts';
import { HandlerFunction } from './constructs/handler-function.ts';
import { acknowledge, NAG_REASONS } from './constructs/nag.ts';
import {
  fallbackQueueArns,
  KMS_SEND_ACTIONS,
  kmsAccess,
  routerQueueAccess,
  sendAccess,
} from './constructs/queue-access.ts';
import { StateTable, storeReadWrite, tableArnsOf } from './constructs/state-table.ts';
import type { DeployContext } from './deploy-context.ts';
import { fallbackKmsKeys } from './queue-facts.ts';

/** Posting to a connection and closing it: the two management calls the router makes. */
export const CONNECTION_METHODS = ['POST', 'DELETE'] as const;

export interface RouterStackProps extends StackProps {
  topology: Topology;
  ctx: DeployContext;
}

/**
 * The router: the table, the HTTP API (sessions, clusters, branches, splits), the WebSocket API
 * (CLIs and connectors), and the scheduled reconciler.
 */
export class RouterStack extends Stack {
  readonly table: Table;
  readonly http: HandlerFunction;
  readonly ws: HandlerFunction;
  readonly reconciler: HandlerFunction;
  readonly httpApi: HttpApi;
  readonly httpStage: HttpStage;
  readonly webSocketApi: WebSocketApi;
  readonly webSocketStage: WebSocketStage;

  constructor(scope: Construct, id: string, props: RouterStackProps) {
    super(scope, id, props);
    const { topology, ctx } = props;
    const name = `switchyard-${ctx.stage}`;

    this.table = new StateTable(this, 'State', { stage: ctx.stage }).table;

    this.webSocketApi = new WebSocketApi(this, 'WebSocketApi', {
      apiName: `${name}-ws`,
      description: 'Switchyard router: CLIs and cluster connectors',
    });
    this.webSocketStage = new WebSocketStage(this, 'WebSocketStage', {
      webSocketApi: this.webSocketApi,
      stageName: ctx.stage,
      autoDeploy: true,
      // The default format logs ids, routes and status: never a header or query string, so never a token.
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs('WebSocketAccessLogs', ctx)),
      },
    });

    const environment = {
      ...functionEnvironment({
        topology,
        ctx,
        tableName: this.table.tableName,
        tableRegion: this.region,
        account: this.account,
      }),
      [ENV.wsManagementEndpoint]: this.webSocketStage.callbackUrl,
    };
    const common = { environment, logRetention: ctx.logRetentionDays, bundleAwsSdk: ctx.bundleAwsSdk };
    // API Gateway gives up on an integration after 29-30 s; the function stops first.
    this.http = new HandlerFunction(this, 'Http', {
      ...common,
      handler: 'http',
      description: 'Switchyard HTTP API',
      timeout: Duration.seconds(29),
      memorySize: 512,
    });
    this.ws = new HandlerFunction(this, 'Ws', {
      ...common,
      handler: 'ws',
      description: 'Switchyard WebSocket routes',
      timeout: Duration.seconds(29),
      memorySize: 512,
    });
    // Runs every minute; a run that overlaps the next is harmless because duties hold the lease.
    this.reconciler = new HandlerFunction(this, 'Reconciler', {
      ...common,
      handler: 'reconciler',
      description: 'Switchyard reconciler: expiry, cleanup, resume',
      timeout: Duration.seconds(55),
      memorySize: 256,
    });

    const tableAccess = storeReadWrite(tableArnsOf(this.table.tableArn));
    // POST sends to a connection; DELETE closes one (a session's client when the session ends).
    const connectionArns = CONNECTION_METHODS.map((method) =>
      this.formatArn({
        service: 'execute-api',
        resource: this.webSocketApi.apiId,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        resourceName: `${this.webSocketStage.stageName}/${method}/@connections/*`,
      }),
    );
    const manageConnections = new PolicyStatement({
      effect: Effect.ALLOW,
      actions: ['execute-api:ManageConnections'],
      resources: connectionArns,
    });
    for (const fn of [this.http, this.ws, this.reconciler]) {
      for (const s of tableAccess) fn.allow(s);
      fn.allow(manageConnections, NAG_REASONS.connectionsWildcard);
    }
    // Output queues live in the default cluster's region (DESIGN.md: one queue every cluster sends
    // to), named after this stage. The http function creates them with a session; the reconciler
    // drains and deletes them after it, and returns stolen leftovers to the fallback queue of the
    // cluster they came from (with the fallback's KMS key, when the user's fallback has one; by
    // the ARN of context queueArns, when the user's fallback is in another account).
    const outputQueues = routerQueueAccess(
      this,
      clusterRegion(topology, defaultCluster(topology)),
      ctx.stage,
    );
    for (const fn of [this.http, this.reconciler]) fn.allow(outputQueues, NAG_REASONS.outputQueuesWildcard);
    const fallbacks = fallbackQueueArns(this, topology, ctx.queueArns);
    if (fallbacks.length > 0) this.reconciler.allow(sendAccess(fallbacks));
    for (const grant of kmsAccess(KMS_SEND_ACTIONS, fallbackKmsKeys(topology, ctx))) {
      this.reconciler.allow(grant.statement, grant.viaAlias ? NAG_REASONS.kmsAliasKeys : undefined);
    }

    // The ws function authorizes $connect too (the only route API Gateway lets one authorize):
    // who it found rides on every later event of the connection, so no route reads it again.
    const routes = [
      this.webSocketApi.addRoute('$connect', {
        integration: new WebSocketLambdaIntegration('ConnectIntegration', this.ws.fn),
        authorizer: new WebSocketLambdaAuthorizer('ConnectAuthorizer', this.ws.fn, {
          authorizerName: `${name}-connect`,
          identitySource: [`route.request.header.${AUTHORIZER_IDENTITY_HEADER}`],
        }),
      }),
      this.webSocketApi.addRoute('$disconnect', {
        integration: new WebSocketLambdaIntegration('DisconnectIntegration', this.ws.fn),
      }),
      // No route response: replies go out through @connections, never as the integration's answer.
      this.webSocketApi.addRoute('$default', {
        integration: new WebSocketLambdaIntegration('DefaultRouteIntegration', this.ws.fn),
      }),
    ];
    // $connect has its authorizer; API Gateway lets no other WebSocket route have one.
    for (const route of routes.slice(1)) acknowledge(route, 'APIG4', NAG_REASONS.routeAuthorization);

    this.httpApi = new HttpApi(this, 'HttpApi', {
      apiName: `${name}-http`,
      description: 'Switchyard router HTTP API',
      createDefaultStage: false,
      defaultIntegration: new HttpLambdaIntegration('HttpIntegration', this.http.fn),
    });
    acknowledge(this.httpApi, 'APIG4', NAG_REASONS.routeAuthorization);
    this.httpStage = new HttpStage(this, 'HttpStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      accessLogSettings: { destination: new LogGroupLogDestination(this.accessLogs('HttpAccessLogs', ctx)) },
    });

    new Rule(this, 'ReconcileSchedule', {
      description: 'Runs the Switchyard reconciler',
      schedule: Schedule.rate(Duration.minutes(1)),
      // No retry: the next run comes within a minute and starts from the table, not from the event.
      targets: [new LambdaFunction(this.reconciler.fn, { retryAttempts: 0 })],
    });

    this.addAlarms(ctx);

    new CfnOutput(this, 'HttpUrl', { value: this.httpStage.url, description: 'router HTTP API (--router)' });
    new CfnOutput(this, 'WebSocketUrl', {
      value: this.webSocketStage.url,
      description: 'router WebSocket (connectors: --router)',
    });
    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'state table (--table)' });
  }

  private accessLogs(id: string, ctx: DeployContext): LogGroup {
    return new LogGroup(this, id, { retention: ctx.logRetentionDays, removalPolicy: RemovalPolicy.DESTROY });
  }

  private addAlarms(ctx: DeployContext): void {
    const alarms = new Alarms(this, 'Alarms', {
      ...(ctx.alarmTopicName ? { topicName: ctx.alarmTopicName } : {}),
    });
    for (const [id, fn] of [
      ['HttpErrors', this.http],
      ['WsErrors', this.ws],
      ['ReconcilerErrors', this.reconciler],
    ] as const) {
      alarms.add(
        id,
        fn.fn.metricErrors({ period: ALARM_PERIOD, statistic: 'Sum' }),
        1,
        `the ${fn.node.id} function threw (an unhandled error or a timeout)`,
      );
    }
    const wsMetric = (metricName: string) =>
      new Metric({
        namespace: 'AWS/ApiGateway',
        metricName,
        dimensionsMap: { ApiId: this.webSocketApi.apiId, Stage: this.webSocketStage.stageName },
        statistic: 'Sum',
        period: ALARM_PERIOD,
      });
    alarms.add(
      'WebSocketIntegrationErrors',
      wsMetric('IntegrationError'),
      1,
      'the WebSocket API got an error from the ws function',
    );
    alarms.add(
      'WebSocketExecutionErrors',
      wsMetric('ExecutionError'),
      1,
      'the WebSocket API failed to call the ws function',
    );
    alarms.add(
      'Http5xx',
      this.httpApi.metricServerError({ period: ALARM_PERIOD, statistic: 'Sum' }),
      1,
      'the HTTP API answered 5xx',
    );
  }
}
