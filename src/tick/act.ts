/**
 * act: carries out the plan's actions through the providers, a few at a time, and reports what
 * each came to. A failed action is classified and reported, never thrown: it cannot stop the daemon.
 */
import type Logger from "bunyan";
import { runBounded } from "../concurrency.js";
import { asProviderError } from "../model/errors.js";
import type { Action, LaunchAction, TerminateAction } from "../model/plan.js";
import type { CallOutcome, OutcomeError } from "../policy/backoff.js";
import type { Provider } from "../providers/provider.js";

export interface ActOptions {
  dryRun: boolean;
  concurrency: number;
}

function errorOf(error: unknown): OutcomeError {
  const classified = asProviderError(error);
  return {
    kind: classified.kind,
    message: classified.message,
    ...(classified.retryAfterSeconds === undefined
      ? {}
      : { retryAfterSeconds: classified.retryAfterSeconds }),
    ...(classified.scope === undefined ? {} : { scope: classified.scope }),
  };
}

async function launch(action: LaunchAction, provider: Provider, log: Logger): Promise<CallOutcome> {
  const outcome: CallOutcome = {
    cloud: action.cloud,
    operation: "launch",
    requested: action.count,
    succeeded: 0,
  };
  try {
    const result = await provider.launch({
      count: action.count,
      avoid: action.avoid ?? [],
      ...(action.token === undefined ? {} : { token: action.token }),
    });
    if (result.skipped !== undefined) {
      log.info(
        { cloud: action.cloud, requested: action.count },
        `${action.cloud}: no launch made: ${result.skipped}`,
      );
      return { ...outcome, skipped: true };
    }
    outcome.succeeded = result.instances.length;
    if (result.error !== undefined) outcome.error = errorOf(result.error);
    for (const scoped of result.scopeErrors ?? []) {
      log.info(
        { cloud: action.cloud, kind: scoped.kind, scope: scoped.scope },
        `${action.cloud}: ${scoped.scope ?? "a scope"} answered ${scoped.kind}: ${scoped.message}`,
      );
      outcome.scopeErrors = [...(outcome.scopeErrors ?? []), errorOf(scoped)];
    }
    const ids = result.instances.map((instance) => instance.id);
    outcome.instanceIds = ids;
    if (ids.length > 0) {
      log.info(
        { cloud: action.cloud, instanceIds: ids },
        `${action.cloud}: launched ${ids.length} of ${action.count}: ${ids.join(", ")}`,
      );
    }
  } catch (error) {
    outcome.error = errorOf(error);
  }
  if (outcome.error !== undefined) {
    log.warn(
      {
        cloud: action.cloud,
        kind: outcome.error.kind,
        requested: action.count,
        launched: outcome.succeeded,
      },
      `${action.cloud}: launch answered ${outcome.error.kind}: ${outcome.error.message}`,
    );
  }
  return outcome;
}

async function terminate(
  cloud: string,
  actions: readonly TerminateAction[],
  provider: Provider,
  log: Logger,
): Promise<CallOutcome> {
  const ids = actions.flatMap((action) => action.instanceIds);
  const outcome: CallOutcome = {
    cloud,
    operation: "terminate",
    requested: ids.length,
    succeeded: 0,
  };
  try {
    const result = await provider.terminate(ids);
    outcome.succeeded = result.terminated.length;
    outcome.instanceIds = result.terminated;
    if (result.error !== undefined) outcome.error = errorOf(result.error);
  } catch (error) {
    outcome.error = errorOf(error);
  }
  if (outcome.error !== undefined) {
    log.warn(
      { cloud, kind: outcome.error.kind, instanceIds: ids },
      `${cloud}: terminate answered ${outcome.error.kind}: ${outcome.error.message}`,
    );
  }
  return outcome;
}

/** The API calls an action would make, as the provider describes them (none made). */
export function describeCalls(action: Action, provider: Provider | undefined): string[] {
  if (provider === undefined) return [];
  if (action.kind === "launch") {
    return provider.describeLaunch?.({ count: action.count, avoid: action.avoid ?? [] }) ?? [];
  }
  return provider.describeTerminate?.(action.instanceIds) ?? [];
}

export async function act(
  actions: readonly Action[],
  providers: ReadonlyMap<string, Provider>,
  options: ActOptions,
  log: Logger,
): Promise<CallOutcome[]> {
  const verb = options.dryRun ? "would " : "";
  for (const action of actions) {
    const what =
      action.kind === "launch"
        ? `${verb}launch ${action.count} on ${action.cloud}`
        : `${verb}terminate ${action.instanceIds.join(", ")} on ${action.cloud}`;
    const calls = describeCalls(action, providers.get(action.cloud));
    log.info({ action, dryRun: options.dryRun, calls }, `${what}: ${action.reason}`);
    if (options.dryRun)
      for (const call of calls) log.info({ cloud: action.cloud, call }, `  would call ${call}`);
  }
  if (options.dryRun) return [];

  const tasks: Array<() => Promise<CallOutcome>> = [];
  const terminations = new Map<string, TerminateAction[]>();
  for (const action of actions) {
    const provider = providers.get(action.cloud);
    if (provider === undefined) continue;
    if (action.kind === "launch") {
      tasks.push(() => launch(action, provider, log));
    } else {
      terminations.set(action.cloud, [...(terminations.get(action.cloud) ?? []), action]);
    }
  }
  for (const [cloud, cloudActions] of terminations) {
    const provider = providers.get(cloud);
    if (provider !== undefined) tasks.push(() => terminate(cloud, cloudActions, provider, log));
  }
  // Each task classifies its own failures; one that throws anyway is a bug to surface.
  const { results, failure } = await runBounded(tasks, options.concurrency);
  if (failure !== undefined) throw failure.error;
  return results;
}
