import { failed, type PreflightCheck, reasonOf } from "../model/preflight.js";

/**
 * A check that cannot hang the preflight: past `seconds` it fails as a timeout (the call itself
 * runs on to its own timeout); a throw is a failure with its text.
 */
export async function bounded(
  what: string,
  seconds: number,
  fix: string | undefined,
  run: () => Promise<PreflightCheck | PreflightCheck[]>,
): Promise<PreflightCheck[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<PreflightCheck[]>((resolve) => {
    timer = setTimeout(
      () => resolve([failed(what, `no answer within ${seconds}s`, fix)]),
      seconds * 1000,
    );
  });
  try {
    const outcome = await Promise.race([run(), timeout]);
    return Array.isArray(outcome) ? outcome : [outcome];
  } catch (error) {
    return [failed(what, reasonOf(error), fix)];
  } finally {
    clearTimeout(timer);
  }
}
