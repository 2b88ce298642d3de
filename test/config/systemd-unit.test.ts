import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import test from "ava";
import { cli, ROOT } from "../cli/run-cli.js";

const run = promisify(execFile);
const UNIT = join(ROOT, "examples/systemd/condor-autoscaler.service");

type Unit = Map<string, Map<string, string[]>>;

/** A systemd unit as sections of keys, each with every value it is given (comments dropped). */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    if (line.endsWith("\\")) throw new Error(`line ${index + 1}: continuation lines not expected`);
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1] !== undefined) {
      section = new Map();
      unit.set(header[1], section);
      continue;
    }
    const equals = line.indexOf("=");
    if (section === undefined || equals < 0) throw new Error(`line ${index + 1}: ${line}`);
    const key = line.slice(0, equals).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(equals + 1).trim()]);
  }
  return unit;
}

async function service(): Promise<(key: string) => string | undefined> {
  const unit = parseUnit(await readFile(UNIT, "utf8"));
  const section = unit.get("Service");
  if (section === undefined) throw new Error("no [Service] section");
  return (key) => section.get(key)?.at(-1);
}

function argAfter(argv: readonly string[], option: string): string | undefined {
  const index = argv.indexOf(option);
  return index < 0 ? undefined : argv[index + 1];
}

test("the unit runs the daemon with a config directory and a pidfile in its runtime directory", async (t) => {
  const get = await service();
  t.is(get("Type"), "simple");
  const argv = (get("ExecStart") ?? "").split(/\s+/);
  t.is(argv[0], "/usr/bin/condor-autoscaler");
  t.is(argv[1], "run");
  t.is(argAfter(argv, "--config"), "/etc/condor-autoscaler");
  const pidfile = argAfter(argv, "--pidfile") ?? "";
  t.is(pidfile, `/run/${get("RuntimeDirectory")}/condor-autoscaler.pid`);
  t.false(argv.includes("--dry-run"));
});

test("the unit reloads with SIGHUP, stops with SIGTERM leaving time for a tick, restarts on failure", async (t) => {
  const get = await service();
  t.regex(get("ExecReload") ?? "", /^\/bin\/kill -HUP \$MAINPID$/);
  t.is(get("KillSignal"), "SIGTERM");
  t.true(Number(get("TimeoutStopSec")) >= 60);
  t.is(get("Restart"), "on-failure");
  t.truthy(get("RestartSec"));
});

test("the unit runs unprivileged and hardened, with the state directory writable", async (t) => {
  const get = await service();
  const user = get("User");
  t.truthy(user);
  t.not(user, "root");
  t.not(user, "0");
  t.is(get("NoNewPrivileges"), "yes");
  t.is(get("ProtectSystem"), "strict");
  t.is(get("ProtectHome"), "read-only");
  t.is(get("CapabilityBoundingSet"), "");
  t.is(get("RestrictAddressFamilies"), "AF_UNIX AF_INET AF_INET6");
  // Node's JIT needs writable and executable memory.
  t.is(get("MemoryDenyWriteExecute"), "false");
  t.is(get("ReadWritePaths"), `/var/lib/${get("StateDirectory")}`);
  t.is(get("SupplementaryGroups"), undefined, "docker group membership is opt-in");
  t.is(get("EnvironmentFile"), "-/etc/default/condor-autoscaler");
});

test("every option ExecStart passes to `run` is one the command line knows", async (t) => {
  const get = await service();
  const options = (get("ExecStart") ?? "").split(/\s+/).filter((arg) => arg.startsWith("--"));
  t.true(options.length >= 2);
  const help = await cli(["run", "--help"]);
  t.is(help.code, 0, help.stderr);
  for (const option of options) t.true(help.stdout.includes(option), `run --help lacks ${option}`);
});

test("systemd-analyze verify accepts the unit, when systemd-analyze is installed", async (t) => {
  const found = await run("systemd-analyze", ["--version"]).then(
    () => true,
    () => false,
  );
  if (!found) {
    t.log("systemd-analyze is not installed: only the parsed keys were checked");
    t.pass();
    return;
  }
  // verify insists that ExecStart's program exists: point it at one that does, same arguments.
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-unit-"));
  const copy = join(dir, "condor-autoscaler.service");
  const text = await readFile(UNIT, "utf8");
  await writeFile(
    copy,
    text.replace(/^ExecStart=\/usr\/bin\/condor-autoscaler /m, "ExecStart=/bin/true "),
  );
  const result = await run("systemd-analyze", ["verify", "--man=no", copy]).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (error: { code?: number; stderr?: string }) => ({
      code: error.code ?? 1,
      stderr: error.stderr ?? "",
    }),
  );
  t.is(result.code, 0, result.stderr);
  // Unknown keys and bad values are only warnings (exit 0): none may name the unit.
  const warnings = result.stderr.split("\n").filter((line) => line.includes(copy));
  t.deepEqual(warnings, []);
});
