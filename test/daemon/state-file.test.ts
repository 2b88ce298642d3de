/** The state file of `run --state`: what it keeps, and how it refuses what is not its own. */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import test from "ava";
import { loadState, memoryOf, saveState, stateOf } from "../../src/daemon/state-file.js";
import { memoryLog } from "../tick/support.js";

async function dir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), "condor-autoscaler-state-"));
  t.teardown(() => rm(path, { recursive: true, force: true }));
  return path;
}

test("it keeps the joined workers and the unanswered launch intents per cloud, and a restart starts from them", async (t) => {
  const path = join(await dir(t), "state.json");
  const memory = {
    clouds: {
      a: {
        scoped: {},
        joined: ["i-1", "i-2"],
        backoff: { kind: "quota" as const, until: 9, failures: 1, message: "q" },
      },
      b: { scoped: {}, intents: [{ token: "c0ffee", count: 3, at: 100 }] },
      c: { scoped: {} },
    },
  };
  await saveState(path, stateOf("cms", memory));
  const { log } = memoryLog();
  const loaded = await loadState(path, "cms", log);
  t.deepEqual(loaded, {
    version: 1,
    pool: "cms",
    clouds: {
      a: { joined: ["i-1", "i-2"] },
      b: { joined: [], intents: [{ token: "c0ffee", count: 3, at: 100 }] },
    },
  });
  if (loaded === undefined) return;
  t.deepEqual(memoryOf(loaded), {
    clouds: {
      a: { scoped: {}, joined: ["i-1", "i-2"] },
      b: { scoped: {}, joined: [], intents: [{ token: "c0ffee", count: 3, at: 100 }] },
    },
  });
  t.deepEqual(await readdir(join(path, "..")), ["state.json"], "no temporary file left");
});

test("a missing file is a first start; another pool's, a broken or huge one, or a pipe is ignored and said", async (t) => {
  const base = await dir(t);
  const { log, messages } = memoryLog();
  t.is(await loadState(join(base, "none.json"), "cms", log), undefined);
  t.deepEqual(messages(), []);

  const other = join(base, "other.json");
  await saveState(other, { version: 1, pool: "atlas", clouds: {} });
  t.is(await loadState(other, "cms", log), undefined);
  const broken = join(base, "broken.json");
  await writeFile(broken, '{"version": 1, "pool": "cms", "clouds": ');
  t.is(await loadState(broken, "cms", log), undefined);
  const huge = join(base, "huge.json");
  await writeFile(huge, "");
  await truncate(huge, 64 * 1024 * 1024);
  t.is(await loadState(huge, "cms", log), undefined);
  const pipe = join(base, "pipe.json");
  await promisify(execFile)("mkfifo", [pipe]);
  t.is(await loadState(pipe, "cms", log), undefined, "a named pipe is not read (nor waited on)");
  t.deepEqual(messages(), [
    `state file ${other} ignored: it is pool atlas's`,
    `state file ${broken} ignored: not JSON`,
    `state file ${huge} ignored: larger than 4194304 bytes`,
    `state file ${pipe} ignored: not a regular file (a pipe, a device?)`,
  ]);
  t.is(
    await readFile(other, "utf8"),
    '{"version":1,"pool":"atlas","clouds":{}}\n',
    "left as it was",
  );
});
