// One step's turn in a pass: look, decide, carry out what was decided, then look again and
// decide again — until nothing is left to do, the step waits on something else, or the same
// decision comes back (its actions did not take effect: shown as pending, tried next pass).
import type { StepState } from '../core/status-types.js';
import type { Ctx, Step } from './steps/step.js';

/** Rounds of one step in one pass: preparing a node from scratch takes at most a few (tls: key, then CA bundle). */
const MAX_ROUNDS = 8;

export interface StepOutcome { state: Exclude<StepState, 'error' | 'attention'>; detail: string }

/**
 * `ctxOf` gives the agent's current view (it changes as `lookAgain` refreshes it after every
 * apply); errors from apply propagate: the caller shows them as the step's state.
 */
export async function reconcileStep<S, A>(step: Step<S, A>, ctxOf: () => Ctx, lookAgain: (gluster: boolean) => Promise<void>): Promise<StepOutcome> {
  let ctx = ctxOf();
  let seen = await step.observe(ctx);
  let d = step.plan(ctx, seen);
  let last = '';
  for (let round = 0; d.actions.length && round < MAX_ROUNDS; round++) {
    const decided = JSON.stringify(d.actions);
    if (decided === last) break;
    last = decided;
    await step.apply(ctx, d.actions, seen);
    await lookAgain(Boolean(step.changesGluster));
    ctx = ctxOf();
    seen = await step.observe(ctx);
    d = step.plan(ctx, seen);
  }
  const state = d.waiting ? 'waiting' : d.actions.length ? 'pending' : 'done';
  return { state, detail: d.detail };
}
