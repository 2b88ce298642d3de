/**
 * `run --state FILE`: what must survive a restart that the clouds cannot tell: which workers have
 * joined the pool once (a restarted daemon that forgot it would take a joined worker whose ads are
 * gone, in a collector restart, for one stuck booting, and kill it), and the launch intents written
 * right before each launch call (a daemon killed mid-call finds them, counts them as booting and
 * settles them by token once the cloud lists what they made: nothing is launched twice).
 *
 * The file is small JSON, replaced atomically (a new file renamed over the old), read with a size
 * bound and validated; an unreadable or foreign file is logged and ignored: the daemon then starts
 * from the clouds alone, as without the option.
 */
import { rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type Logger from "bunyan";
import { z } from "zod";
import { readBoundedFile, UnreadableFile } from "../bounded-file.js";
import type { Memory } from "../model/memory.js";
import type { TickObserver, TickReport } from "./report.js";

/** A state file is a few ids per worker: anything larger is not ours. */
const MAX_STATE_BYTES = 4 * 1024 * 1024;

const stateSchema = z.object({
  version: z.literal(1),
  pool: z.string(),
  clouds: z.record(
    z.string(),
    z.object({
      joined: z.array(z.string()),
      intents: z
        .array(z.object({ token: z.string(), count: z.number().int().positive(), at: z.number() }))
        .optional(),
    }),
  ),
});

export type PersistedState = z.infer<typeof stateSchema>;

/** The part of memory the state file keeps. */
export function stateOf(pool: string, memory: Memory): PersistedState {
  const clouds: PersistedState["clouds"] = {};
  for (const [name, cloud] of Object.entries(memory.clouds)) {
    const joined = cloud.joined ?? [];
    const intents = cloud.intents ?? [];
    if (joined.length === 0 && intents.length === 0) continue;
    clouds[name] = { joined: [...joined], ...(intents.length === 0 ? {} : { intents }) };
  }
  return { version: 1, pool, clouds };
}

/** The memory a restarted daemon starts from. */
export function memoryOf(state: PersistedState): Memory {
  const memory: Memory = { clouds: {} };
  for (const [name, cloud] of Object.entries(state.clouds))
    memory.clouds[name] = {
      scoped: {},
      joined: [...cloud.joined],
      ...(cloud.intents === undefined ? {} : { intents: cloud.intents.map((i) => ({ ...i })) }),
    };
  return memory;
}

/** The state of `pool` in `path`; undefined when there is none (or none usable: logged). */
export async function loadState(
  path: string,
  pool: string,
  log: Logger,
): Promise<PersistedState | undefined> {
  let text: string;
  try {
    text = await readBoundedFile(path, { maxBytes: MAX_STATE_BYTES });
  } catch (error) {
    if (error instanceof UnreadableFile && error.reason === "missing") return undefined;
    const why = error instanceof Error ? error.message : String(error);
    log.warn({ state: path }, `state file ${path} ignored: ${why}`);
    return undefined;
  }
  let parsed: ReturnType<typeof stateSchema.safeParse>;
  try {
    parsed = stateSchema.safeParse(JSON.parse(text));
  } catch {
    log.warn({ state: path }, `state file ${path} ignored: not JSON`);
    return undefined;
  }
  if (!parsed.success) {
    log.warn({ state: path }, `state file ${path} ignored: ${parsed.error.issues[0]?.message}`);
    return undefined;
  }
  if (parsed.data.pool !== pool) {
    log.warn({ state: path }, `state file ${path} ignored: it is pool ${parsed.data.pool}'s`);
    return undefined;
  }
  return parsed.data;
}

/** Replaces the file atomically: a reader (or a crash) sees the old state or the new, never half. */
export async function saveState(path: string, state: PersistedState): Promise<void> {
  const temporary = join(dirname(path), `.${process.pid}.state.tmp`);
  await writeFile(temporary, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

/** Saves the state after every tick that changed it, one write at a time; failures are logged. */
export class StateKeeper implements TickObserver {
  private saved: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly pool: string,
    private readonly log: Logger,
    initial: Memory,
  ) {
    this.saved = JSON.stringify(stateOf(pool, initial));
  }

  tickCompleted(report: TickReport): void {
    const state = stateOf(this.pool, report.result.memory);
    const text = JSON.stringify(state);
    if (text === this.saved) return;
    this.saved = text;
    this.writing = this.writing
      .then(() => saveState(this.path, state))
      .catch((error: unknown) => {
        const why = error instanceof Error ? error.message : String(error);
        this.log.warn({ state: this.path }, `cannot save the state file ${this.path}: ${why}`);
        this.saved = "";
      });
  }

  tickFailed(): void {}

  /** Writes `memory` now, and resolves once it is on disk (launch intents, before the call). */
  async record(memory: Memory): Promise<void> {
    const state = stateOf(this.pool, memory);
    await this.writing;
    await saveState(this.path, state);
    this.saved = JSON.stringify(state);
  }

  /** Resolves when every save asked for so far is done. */
  flush(): Promise<void> {
    return this.writing;
  }
}
