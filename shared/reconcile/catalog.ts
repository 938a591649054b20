/**
 * Every module that registers a reconciler duty, imported for that side effect. The reconciler
 * handler imports this file, so adding a duty is: write it, call `registerDuty` in its module,
 * and add one import line here, e.g.
 *
 *   import '../sessions/expire-duty.ts';
 */
import '../sessions/duties.ts';
import '../branches/duty.ts';
import '../split/retire-duty.ts';
import '../relay/subscribe-duty.ts';
