import { Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** Every alarm looks at five-minute windows: quick enough to page, slow enough not to flap. */
export const ALARM_PERIOD = Duration.minutes(5);

export interface AlarmsProps {
  /** SNS topic (by name, in this stack's region) that receives every alarm and its recovery. */
  topicName?: string;
}

/**
 * The stack's alarms, all wired to one optional SNS topic. CloudWatch can only notify a topic in
 * the alarm's own region, hence a topic name that each region resolves for itself.
 */
export class Alarms extends Construct {
  private readonly action: SnsAction | undefined;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    if (props.topicName) {
      const arn = Stack.of(this).formatArn({ service: 'sns', resource: props.topicName });
      this.action = new SnsAction(Topic.fromTopicArn(this, 'Topic', arn));
    }
  }

  /** Alarms when the metric reaches `threshold` within one period. */
  add(id: string, metric: IMetric, threshold: number, description: string): Alarm {
    const alarm = new Alarm(this, id, {
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No data means no traffic, not a fault.
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    if (this.action) {
      alarm.addAlarmAction(this.action);
      alarm.addOkAction(this.action);
    }
    return alarm;
  }
}

/** An SQS metric for a queue known only by name (imported queues have no metric helpers of their own). */
export function queueMetric(queueName: string, metricName: string, statistic: 'Maximum' | 'Sum'): Metric {
  return new Metric({
    namespace: 'AWS/SQS',
    metricName,
    dimensionsMap: { QueueName: queueName },
    statistic,
    period: ALARM_PERIOD,
  });
}
