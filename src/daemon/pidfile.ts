/**
 * The pidfile: one daemon per pool. The file holds "<pid>\n<pool>\n". It is created atomically and
 * exclusively (written in full under a temporary name, then hard-linked to its name, which fails if
 * the name exists), so a reader never sees it half written. A file whose process is alive refuses
 * the start; a stale one (its process gone, or its content unreadable) is taken over.
 *
 * Taking over a stale file is done under a short-lived lock (`<path>.lock`, also created
 * exclusively), which re-checks that the file is still stale before removing it: two daemons
 * starting together over a stale file cannot both win.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { link, open, readFile, unlink } from "node:fs/promises";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** Another live daemon holds the pidfile. */
export class PidfileError extends Error {
  override readonly name = "PidfileError";

  constructor(
    readonly path: string,
    /** The pid of the daemon holding the file. */
    readonly holder: number,
    /** The pool that daemon runs, as its file says (ours if the file does not say). */
    readonly pool: string,
  ) {
    super(`another condor-autoscaler (pid ${holder}) runs pool ${pool}: ${path}`);
  }
}

export interface Pidfile {
  readonly path: string;
  readonly pid: number;
  readonly pool: string;
  /** Set when a stale file was taken over, for the caller to log. */
  readonly replaced?: {
    /** The pid the stale file named; absent when the file could not be parsed. */
    readonly pid?: number;
    readonly reason: string;
  };
  /** Removes the file if it still holds our pid; a file another process wrote is left alone. */
  release(): Promise<void>;
}

interface Holder {
  pid?: number;
  pool?: string;
}

/** Attempts before giving up while other processes keep changing the file. */
const MAX_ATTEMPTS = 100;
/** Pause before looking again while another process is taking a stale file over. */
const TAKEOVER_WAIT_MS = 20;

/** Pidfiles this process holds or is acquiring (by absolute path). */
const held = new Set<string>();

function codeOf(error: unknown): string | undefined {
  return error instanceof Error && "code" in error && typeof error.code === "string"
    ? error.code
    : undefined;
}

function parse(text: string): Holder {
  const [pidLine, poolLine] = text.split("\n");
  const holder: Holder = {};
  const pid = pidLine?.trim() ?? "";
  if (/^[1-9]\d*$/.test(pid) && Number(pid) <= 2 ** 31 - 1) holder.pid = Number(pid);
  const pool = poolLine?.trim();
  if (pool !== undefined && pool !== "") holder.pool = pool;
  return holder;
}

/** The file's holder, or undefined when there is no file. */
async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    return parse(await readFile(path, "utf8"));
  } catch (error) {
    if (codeOf(error) === "ENOENT") return undefined;
    throw error;
  }
}

/** Whether a process with this pid exists (EPERM: it exists, owned by someone else). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return codeOf(error) !== "ESRCH";
  }
}

/**
 * Whether a live process is a condor-autoscaler daemon, by its command line (/proc). A pid of a
 * stale file may have been reused by anything, pid 1 included: that must not block a start.
 * Where /proc cannot tell (another OS, another user's process hidden), it is taken for one.
 */
function looksLikeUs(pid: number): boolean {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return true;
  }
  return /condor-autoscaler|cli\.(js|ts)/.test(cmdline.replaceAll("\0", " "));
}

/** Why a file's holder no longer counts, or undefined when it is a live process other than us. */
function staleness(holder: Holder): string | undefined {
  if (holder.pid === undefined) return "its content is not a pid";
  if (holder.pid === process.pid) return `it names our own pid ${holder.pid} (an earlier process)`;
  if (!isAlive(holder.pid)) return `process ${holder.pid} is not running`;
  if (!looksLikeUs(holder.pid))
    return `process ${holder.pid} is not a condor-autoscaler (a pid reused since)`;
  return undefined;
}

/**
 * Creates `path` with `content`, exclusively and in one step: written in full under a temporary
 * name in the same directory, then hard-linked. False when `path` already exists.
 */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(temporary, "wx", 0o644);
  try {
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(temporary, path);
    return true;
  } catch (error) {
    if (codeOf(error) === "EEXIST") return false;
    throw error;
  } finally {
    await unlink(temporary).catch(() => {});
  }
}

/**
 * Removes `path` if it is still stale, holding `<path>.lock` meanwhile. Returns false when another
 * process holds the lock (it is taking the file over); true when the lock was ours.
 */
async function removeIfStale(path: string): Promise<boolean> {
  const lock = `${path}.lock`;
  if (!(await createExclusive(lock, `${process.pid}\n`))) {
    const locker = await readHolder(lock);
    // A lock left by a process that died while holding it: remove it and try again.
    if (locker !== undefined && (locker.pid === undefined || !isAlive(locker.pid))) {
      await unlink(lock).catch(() => {});
    }
    return false;
  }
  try {
    const current = await readHolder(path);
    if (current !== undefined && staleness(current) !== undefined) {
      await unlink(path).catch((error: unknown) => {
        if (codeOf(error) !== "ENOENT") throw error;
      });
    }
    return true;
  } finally {
    await unlink(lock).catch(() => {});
  }
}

/** Removes the file if it still names this process. */
async function releaseFile(path: string): Promise<void> {
  try {
    const holder = await readHolder(path);
    if (holder?.pid === process.pid) await unlink(path);
  } catch (error) {
    if (codeOf(error) !== "ENOENT") throw error;
  }
}

/** Creates the file, taking a stale one over; returns what was replaced, if anything. */
async function acquire(path: string, pool: string): Promise<Pidfile["replaced"]> {
  let replaced: Pidfile["replaced"];
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (await createExclusive(path, `${process.pid}\n${pool}\n`)) return replaced;
    const holder = await readHolder(path);
    if (holder === undefined) continue;
    const reason = staleness(holder);
    if (reason === undefined) throw new PidfileError(path, holder.pid ?? 0, holder.pool ?? pool);
    replaced = holder.pid === undefined ? { reason } : { pid: holder.pid, reason };
    if (!(await removeIfStale(path))) await sleep(TAKEOVER_WAIT_MS);
  }
  throw new Error("it kept changing under us");
}

/**
 * Takes the pidfile at `path` for `pool`. Throws a PidfileError when a live process (another
 * daemon, or another acquisition in this process) holds it; takes a stale file over and says so
 * in `replaced`. Any other failure (a missing directory, no permission) is thrown with the path.
 */
export async function acquirePidfile(path: string, pool: string): Promise<Pidfile> {
  const absolute = resolve(path);
  if (held.has(absolute)) throw new PidfileError(path, process.pid, pool);
  held.add(absolute);
  let replaced: Pidfile["replaced"];
  try {
    replaced = await acquire(path, pool);
  } catch (error) {
    held.delete(absolute);
    if (error instanceof PidfileError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot create pidfile ${path}: ${reason}`, { cause: error });
  }
  let released = false;
  return {
    path,
    pid: process.pid,
    pool,
    ...(replaced === undefined ? {} : { replaced }),
    release: async () => {
      if (released) return;
      released = true;
      try {
        await releaseFile(path);
      } finally {
        held.delete(absolute);
      }
    },
  };
}
