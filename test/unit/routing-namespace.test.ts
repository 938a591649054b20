import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isNamespaced, namespaceId, splitNamespacedId } from '../../shared/routing/namespace.ts';

describe('namespaceId / splitNamespacedId', () => {
  it.each([
    ['eu-west', '41', 'eu-west:41'],
    ['a', 'pod-3:17', 'a:pod-3:17'],
    ['us-east-2', 'x', 'us-east-2:x'],
  ])('%s + %s -> %s and back', (cluster, id, namespaced) => {
    expect(namespaceId(cluster, id)).toBe(namespaced);
    expect(splitNamespacedId(namespaced)).toEqual({ clusterId: cluster, id });
  });

  it.each([
    ['41', 'no namespace'],
    [':41', 'empty cluster'],
    ['eu-west:', 'empty id'],
    ['EU:41', 'cluster id in capitals'],
    ['9lives:41', 'cluster id starting with a digit'],
    [`${'a'.repeat(32)}:41`, 'cluster id over 31 chars'],
    [`eu:${'x'.repeat(129)}`, 'id over 128 chars'],
  ])('refuses %j (%s)', (value) => {
    expect(splitNamespacedId(value)).toBeUndefined();
  });

  it('tells namespaced ids from client-chosen ones by ":" alone', () => {
    expect(isNamespaced('eu:1')).toBe(true);
    expect(isNamespaced('s-1.a_b~c')).toBe(false);
  });

  it('round-trips any cluster id and id (property)', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/),
        fc.string({ minLength: 1, maxLength: 128 }),
        (cluster, id) => {
          expect(splitNamespacedId(namespaceId(cluster, id))).toEqual({ clusterId: cluster, id });
        },
      ),
    );
  });
});
