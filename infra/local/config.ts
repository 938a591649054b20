import { readFileSync } from 'node:fs';
import { describeJsonError } from '../../shared/config/json-position.ts';
import { parseSettings, type Settings } from '../../shared/config/settings.ts';
import { loadTopology, parseTopology, type Topology } from '../../shared/config/topology.ts';
import { SwitchyardError } from '../../shared/errors/errors.ts';
import { DEFAULT_CONFIG_FILE } from './defaults.ts';

export class InvalidSettingsError extends SwitchyardError {
  constructor(source: string, message: string) {
    super('invalid_settings', `${source} is not valid router settings: ${message}`, 400, { source });
  }
}

/** The topology from an object (programmatic use, tests) or a file; throws TopologyError naming the broken rule. */
export function resolveTopology(opts: { topology?: unknown; configFile?: string }): Topology {
  if (opts.topology !== undefined) return parseTopology(opts.topology, 'the topology');
  return loadTopology(opts.configFile ?? DEFAULT_CONFIG_FILE);
}

/** Settings from an object or a JSON file; defaults when neither is given. */
export function resolveSettings(opts: { settings?: unknown; settingsFile?: string }): Settings {
  let input: unknown = opts.settings;
  const source = opts.settingsFile ?? 'the settings';
  if (input === undefined && opts.settingsFile) {
    let text: string;
    try {
      text = readFileSync(opts.settingsFile, 'utf8');
    } catch (err) {
      throw new InvalidSettingsError(
        source,
        `cannot read it (${(err as NodeJS.ErrnoException).code ?? err})`,
      );
    }
    try {
      input = JSON.parse(text);
    } catch (err) {
      throw new InvalidSettingsError(source, `not valid JSON, ${describeJsonError(text, err)}`);
    }
  }
  try {
    return parseSettings(input ?? {});
  } catch (err) {
    const issues = (err as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
    throw new InvalidSettingsError(
      source,
      issues?.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ') ??
        String(err),
    );
  }
}
