import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { IngressStats } from '../ingress/handle.ts';
import type { Phase } from './admin-server.ts';
import type { RouterLinkStatus } from './router-link.ts';

/** What the metrics read, at scrape time: the connector's own counters, never a copy. */
export interface MetricsSource {
  /** Each service's ingress and its counters. */
  services(): { name: string; stats: IngressStats }[];
  /** Live sessions this replica serves. */
  sessions(): number;
  router(): RouterLinkStatus;
  phase(): Phase;
  /** Answers refused with `not_your_request`. */
  refusedAnswers(): number;
}

/** The ingress counters, by the name each has on `/metrics`. */
const INGRESS_COUNTERS: { key: keyof IngressStats; name: string; help: string }[] = [
  {
    key: 'passedThrough',
    name: 'switchyard_ingress_passed_through_total',
    help: 'Requests the upstream served (no session stole them), mirrored ones included.',
  },
  {
    key: 'stolen',
    name: 'switchyard_ingress_stolen_total',
    help: "Requests answered by a developer's local app.",
  },
  {
    key: 'mirrored',
    name: 'switchyard_ingress_mirror_copies_total',
    help: 'Copies of requests sent to developers (one per mirroring session).',
  },
  {
    key: 'mirrorSkipped',
    name: 'switchyard_ingress_mirror_copies_skipped_total',
    help: 'Copies not sent because the body was above maxBodyBytes.',
  },
  {
    key: 'tooLargeToSteal',
    name: 'switchyard_ingress_too_large_to_steal_total',
    help: 'Matching requests the upstream served because the body was above maxBodyBytes.',
  },
];

const PHASES: Phase[] = ['starting', 'serving', 'draining', 'stopping'];

/**
 * The connector's Prometheus metrics, served on the admin port at `/metrics`: what went where
 * per service, the sessions held, whether the router is reachable (a connector failing open
 * shows here before anyone reads a log) and the process's own figures (CPU, memory, event loop
 * lag). Values are read from the connector when scraped, so counting costs a request nothing.
 */
export function connectorMetrics(
  source: MetricsSource,
  labels: { cluster: string; replica: string },
): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  for (const c of INGRESS_COUNTERS) {
    new Counter({
      name: c.name,
      help: c.help,
      labelNames: ['service'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of source.services()) this.inc({ service: s.name }, s.stats[c.key]);
      },
    });
  }
  new Counter({
    name: 'switchyard_connector_refused_answers_total',
    help: 'Answers refused because they came from a session the request was not delivered to.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(source.refusedAnswers());
    },
  });
  new Gauge({
    name: 'switchyard_connector_sessions',
    help: 'Live sessions this connector serves.',
    registers: [registry],
    collect() {
      this.set(source.sessions());
    },
  });
  new Gauge({
    name: 'switchyard_connector_router_connected',
    help: '1 while the connection to the router is up; 0 while traffic only passes through (fail-open).',
    registers: [registry],
    collect() {
      this.set(source.router().state === 'connected' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'switchyard_connector_phase',
    help: 'The lifecycle phase: 1 for the current one (starting, serving, draining, stopping).',
    labelNames: ['phase'],
    registers: [registry],
    collect() {
      const now = source.phase();
      for (const p of PHASES) this.set({ phase: p }, p === now ? 1 : 0);
    },
  });
  collectDefaultMetrics({ register: registry });
  return registry;
}
