import { describe, expect, it } from 'vitest';
import { emptyStats } from '../../connector/ingress/handle.ts';
import type { Phase } from '../../connector/lifecycle/admin-server.ts';
import { connectorMetrics } from '../../connector/lifecycle/metrics.ts';
import type { RouterLinkStatus } from '../../connector/lifecycle/router-link.ts';

function line(text: string, prefix: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(prefix));
}

describe('connector metrics', () => {
  it('reads the counters when scraped, labelled by service, cluster and replica', async () => {
    const api = emptyStats();
    const web = emptyStats();
    let router: RouterLinkStatus = { state: 'connected', since: new Date().toISOString() };
    let phase: Phase = 'serving';
    let sessions = 2;
    const registry = connectorMetrics(
      {
        services: () => [
          { name: 'api', stats: api },
          { name: 'web', stats: web },
        ],
        sessions: () => sessions,
        router: () => router,
        phase: () => phase,
        refusedAnswers: () => 3,
      },
      { cluster: 'east', replica: 'east-0' },
    );
    api.passedThrough = 10;
    api.stolen = 4;
    web.mirrorSkipped = 1;
    let text = await registry.metrics();
    expect(line(text, 'switchyard_ingress_passed_through_total{service="api"')).toBe(
      'switchyard_ingress_passed_through_total{service="api",cluster="east",replica="east-0"} 10',
    );
    expect(line(text, 'switchyard_ingress_stolen_total{service="api"')).toMatch(/ 4$/);
    expect(line(text, 'switchyard_ingress_mirror_copies_skipped_total{service="web"')).toMatch(/ 1$/);
    expect(line(text, 'switchyard_connector_sessions{')).toMatch(/ 2$/);
    expect(line(text, 'switchyard_connector_router_connected{')).toMatch(/ 1$/);
    expect(line(text, 'switchyard_connector_refused_answers_total{')).toMatch(/ 3$/);
    expect(line(text, 'switchyard_connector_phase{phase="serving"')).toMatch(/ 1$/);
    expect(line(text, 'process_cpu_seconds_total')).toBeDefined();

    // Failing open, draining, more traffic: the next scrape shows it, counters never go back.
    api.passedThrough = 25;
    sessions = 0;
    router = { state: 'unreachable', since: new Date().toISOString(), reason: 'ECONNREFUSED' };
    phase = 'draining';
    text = await registry.metrics();
    expect(line(text, 'switchyard_ingress_passed_through_total{service="api"')).toMatch(/ 25$/);
    expect(line(text, 'switchyard_connector_sessions{')).toMatch(/ 0$/);
    expect(line(text, 'switchyard_connector_router_connected{')).toMatch(/ 0$/);
    expect(line(text, 'switchyard_connector_phase{phase="serving"')).toMatch(/ 0$/);
    expect(line(text, 'switchyard_connector_phase{phase="draining"')).toMatch(/ 1$/);
  });
});
