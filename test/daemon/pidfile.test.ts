import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import test from "ava";
import { acquirePidfile, PidfileError } from "../../src/daemon/pidfile.js";

const PIDFILE_MODULE = pathToFileURL(join(import.meta.dirname, "../../src/daemon/pidfile.ts")).href;

async function pidfilePath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-pidfile-"));
  return join(dir, "mypool.pid");
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A real process that idles until killed. */
/** A live stand-in for another daemon: its command line names condor-autoscaler, as a real one's does. */
async function sleeper(): Promise<ChildProcess & { pid: number }> {
  const child = spawn(process.execPath, ["-e", "setTimeout(()=>{},60000)", "condor-autoscaler"], {
    stdio: "ignore",
  });
  await once(child, "spawn");
  if (child.pid === undefined) throw new Error("no pid");
  return Object.assign(child, { pid: child.pid });
}

async function killed(child: ChildProcess): Promise<void> {
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/** A pid that was in use a moment ago and is not any more. */
async function deadPid(): Promise<number> {
  const child = await sleeper();
  await killed(child);
  return child.pid ?? 0;
}

test("a fresh pidfile holds our pid and the pool; release removes it", async (t) => {
  const path = await pidfilePath();
  const pidfile = await acquirePidfile(path, "mypool");
  t.is(await readFile(path, "utf8"), `${process.pid}\nmypool\n`);
  t.is(pidfile.replaced, undefined);
  await pidfile.release();
  t.false(await exists(path));
});

test("a live process in the file refuses the start; once it is dead the file is taken over", async (t) => {
  const path = await pidfilePath();
  const other = await sleeper();
  t.teardown(() => other.kill("SIGKILL"));
  await writeFile(path, `${other.pid}\nmypool\n`);

  const error = await t.throwsAsync(acquirePidfile(path, "mypool"), { instanceOf: PidfileError });
  t.is(error?.holder, other.pid);
  t.is(error?.pool, "mypool");
  t.is(error?.message, `another condor-autoscaler (pid ${other.pid}) runs pool mypool: ${path}`);
  t.is(await readFile(path, "utf8"), `${other.pid}\nmypool\n`, "the holder's file is untouched");

  await killed(other);
  const pidfile = await acquirePidfile(path, "mypool");
  t.is(pidfile.replaced?.pid, other.pid);
  t.regex(pidfile.replaced?.reason ?? "", new RegExp(`process ${other.pid} is not running`));
  t.is(await readFile(path, "utf8"), `${process.pid}\nmypool\n`);
  await pidfile.release();
});

test("the refusal names the pool the holder's file says it runs", async (t) => {
  const path = await pidfilePath();
  const other = await sleeper();
  t.teardown(() => other.kill("SIGKILL"));
  await writeFile(path, `${other.pid}\notherpool\n`);
  const error = await t.throwsAsync(acquirePidfile(path, "mypool"), { instanceOf: PidfileError });
  t.is(error?.pool, "otherpool");
});

test("a file naming a live process that is no condor-autoscaler (pid 1, a reused pid) is stale: the start goes ahead", async (t) => {
  const path = await pidfilePath();
  await writeFile(path, "1\nmypool\n");
  const pidfile = await acquirePidfile(path, "mypool");
  t.is(pidfile.replaced?.pid, 1);
  t.is(pidfile.replaced?.reason, "process 1 is not a condor-autoscaler (a pid reused since)");
  await pidfile.release();
});

test("an unparsable file is stale and replaced, with no pid to report", async (t) => {
  const path = await pidfilePath();
  await writeFile(path, "garbage\n");
  const pidfile = await acquirePidfile(path, "mypool");
  t.deepEqual(pidfile.replaced, { reason: "its content is not a pid" });
  t.is(await readFile(path, "utf8"), `${process.pid}\nmypool\n`);
  await pidfile.release();
});

test("a file naming our own pid, left by an earlier process, is taken over", async (t) => {
  const path = await pidfilePath();
  await writeFile(path, `${process.pid}\nmypool\n`);
  const pidfile = await acquirePidfile(path, "mypool");
  t.is(pidfile.replaced?.pid, process.pid);
  await pidfile.release();
  t.false(await exists(path));
});

test("release leaves alone a file that another process has written since", async (t) => {
  const path = await pidfilePath();
  const pidfile = await acquirePidfile(path, "mypool");
  const other = await sleeper();
  t.teardown(() => other.kill("SIGKILL"));
  await writeFile(path, `${other.pid}\nmypool\n`);
  await pidfile.release();
  t.is(await readFile(path, "utf8"), `${other.pid}\nmypool\n`);
});

test("after release the pidfile can be acquired again, and a second release does nothing", async (t) => {
  const path = await pidfilePath();
  const first = await acquirePidfile(path, "mypool");
  await first.release();
  const second = await acquirePidfile(path, "mypool");
  await first.release();
  t.is(await readFile(path, "utf8"), `${process.pid}\nmypool\n`, "the first release is spent");
  await second.release();
  t.false(await exists(path));
});

test("two concurrent acquisitions in one process: exactly one wins, the other is refused", async (t) => {
  const path = await pidfilePath();
  const results = await Promise.allSettled([
    acquirePidfile(path, "mypool"),
    acquirePidfile(path, "mypool"),
  ]);
  const won = results.filter((r) => r.status === "fulfilled");
  const refused = results.filter(
    (r) => r.status === "rejected" && r.reason instanceof PidfileError,
  );
  t.is(won.length, 1);
  t.is(refused.length, 1);
  for (const r of won) await r.value.release();
});

/**
 * A process that loads the pidfile module, says "ready", and on "go" (a line on stdin) acquires the
 * pidfile, reports "won" or "refused", and holds it until its stdin closes.
 */
const CONTENDER = `import { createInterface } from "node:readline";
import { acquirePidfile } from ${JSON.stringify(PIDFILE_MODULE)};
const lines = createInterface({ input: process.stdin });
lines.once("line", async () => {
  try {
    await acquirePidfile(process.argv[2], "mypool");
    console.log("won");
  } catch (error) {
    console.log(error.name === "PidfileError" ? "refused" : "error: " + error.message);
  }
});
lines.once("close", () => process.exit(0));
console.log("ready");
`;

interface Contender {
  child: ChildProcess;
  next: () => Promise<string>;
}

function contender(script: string, path: string): Contender {
  const child = spawn(process.execPath, ["--import", "tsx", script, path], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const stdout = child.stdout;
  if (stdout === null) throw new Error("no stdout");
  const lines = createInterface({ input: stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await lines.next();
    return line.done === true ? "exited without an answer" : line.value;
  };
  return { child, next };
}

test("processes starting together over a stale file: exactly one takes it over", async (t) => {
  const path = await pidfilePath();
  await writeFile(path, `${await deadPid()}\nmypool\n`);
  const script = join(await mkdtemp(join(tmpdir(), "condor-autoscaler-contender-")), "c.mjs");
  await writeFile(script, CONTENDER);
  const contenders = Array.from({ length: 6 }, () => contender(script, path));
  t.teardown(() => {
    for (const { child } of contenders) child.kill("SIGKILL");
  });
  t.deepEqual(await Promise.all(contenders.map((c) => c.next())), Array(6).fill("ready"));
  for (const { child } of contenders) child.stdin?.write("go\n");
  const answers = await Promise.all(contenders.map((c) => c.next()));
  t.deepEqual([...answers].sort(), [...Array(5).fill("refused"), "won"]);
  const winner = contenders[answers.indexOf("won")]?.child.pid;
  t.is(await readFile(path, "utf8"), `${winner}\nmypool\n`);
  for (const { child } of contenders) child.stdin?.end();
});

test("a pidfile in a missing directory fails with an error naming the path", async (t) => {
  const path = join(await pidfilePath(), "..", "missing", "mypool.pid");
  const error = await t.throwsAsync(acquirePidfile(path, "mypool"));
  t.false(error instanceof PidfileError);
  t.true(error?.message.startsWith(`cannot create pidfile ${path}: `));
});
