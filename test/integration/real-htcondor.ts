/**
 * A personal HTCondor pool on 127.0.0.1 from an installed release, for the opt-in tests against a
 * real HTCondor (CONDOR_AUTOSCALER_REAL_HTCONDOR = the release directory, with bin/ and sbin/).
 *
 * The head node runs collector, negotiator and schedd (no startd: the workers are the daemon's
 * pilot containers) under `use security:recommended` with IDTOKENS, as root (the daemons switch
 * to the `condor` user). Jobs are submitted as `nobody`: HTCondor refuses jobs of root and of the
 * condor user.
 *
 * Pilots run the busybox test image with the release, the host's /usr/lib (also as /lib), /lib64
 * and passwd/group bind-mounted read-only (as CVMFS would provide HTCondor), on the host's network,
 * started by `start.sh`, which makes HTCondor's local directory and runs examples/pilot/entrypoint.sh.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { builtCli } from "../cli/run-cli.js";
import { ROOT } from "./real-nova.js";

const run = promisify(execFile);

/** Where the pilot finds the release, and its HTCondor base configuration. */
const PILOT_RELEASE = "/opt/condor-release";
const PILOT_CONFIG = "/etc/condor/condor_config";

/** Why the real-HTCondor tests cannot run here, or undefined when they can. */
export async function realHTCondorMissing(): Promise<string | undefined> {
  const release = process.env.CONDOR_AUTOSCALER_REAL_HTCONDOR;
  if (release === undefined || release === "")
    return "set CONDOR_AUTOSCALER_REAL_HTCONDOR to an installed HTCondor release (bin/, sbin/) to run them";
  if (!existsSync(join(release, "sbin", "condor_master")))
    return `${release}/sbin/condor_master not found: not an HTCondor release directory`;
  if (process.getuid?.() !== 0) return "they start HTCondor daemons as root";
  try {
    await run("id", ["condor"]);
  } catch {
    return "there is no `condor` user for HTCondor's daemons to run as";
  }
  return undefined;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

export class PersonalPool {
  readonly config: string;
  readonly env: NodeJS.ProcessEnv;
  /** host:port of the collector, and what pilots get as CONDOR_HOST. */
  readonly collector: string;
  readonly tokenFile: string;

  private constructor(
    readonly release: string,
    readonly dir: string,
    port: number,
  ) {
    this.config = join(dir, "condor_config");
    this.collector = `127.0.0.1:${port}`;
    this.tokenFile = join(dir, "worker.token");
    this.env = {
      ...process.env,
      CONDOR_CONFIG: this.config,
      PATH: `${join(release, "bin")}:${join(release, "sbin")}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    };
  }

  /** Starts collector, negotiator and schedd in `dir`, and mints the workers' token. */
  static async start(release: string, dir: string): Promise<PersonalPool> {
    const pool = new PersonalPool(release, dir, await freePort());
    await pool.writeConfig();
    await run(join(release, "sbin", "condor_master"), ["-pidfile", pool.pidFile], {
      env: pool.env,
    });
    await pool.until("the schedd answers", async () => {
      const { stdout } = await pool.tool("condor_status", ["-schedd", "-af", "Name"]);
      return stdout.trim() !== "";
    });
    const token = await pool.tool("condor_token_create", ["-identity", "condor@127.0.0.1"]);
    await writeFile(pool.tokenFile, token.stdout, { mode: 0o600 });
    return pool;
  }

  private get pidFile(): string {
    return join(this.dir, "local", "log", "master.pid");
  }

  private async writeConfig(): Promise<void> {
    const local = join(this.dir, "local");
    for (const sub of ["log", "spool", "execute"]) {
      await mkdir(join(local, sub), { recursive: true });
      await run("chown", ["condor:condor", join(local, sub)]);
    }
    for (const sub of ["passwords.d", "tokens.d"])
      await mkdir(join(local, sub), { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o755);
    await chmod(local, 0o755);
    await writeFile(
      this.config,
      [
        `RELEASE_DIR = ${this.release}`,
        `LOCAL_DIR = ${local}`,
        "LOCAL_CONFIG_DIR =",
        "LOCAL_CONFIG_FILE =",
        "use ROLE: Personal",
        "DAEMON_LIST = MASTER COLLECTOR NEGOTIATOR SCHEDD",
        "CONDOR_HOST = 127.0.0.1",
        `COLLECTOR_HOST = ${this.collector}`,
        "NETWORK_INTERFACE = 127.0.0.1",
        "BIND_ALL_INTERFACES = False",
        "UID_DOMAIN = localhost",
        "TRUST_DOMAIN = 127.0.0.1",
        "FILESYSTEM_DOMAIN = localhost",
        "SEC_PASSWORD_DIRECTORY = $(LOCAL_DIR)/passwords.d",
        "SEC_TOKEN_SYSTEM_DIRECTORY = $(LOCAL_DIR)/tokens.d",
        "use security:recommended",
        "USE_SHARED_PORT = False",
        "SCHEDD_INTERVAL = 5",
        "NEGOTIATOR_INTERVAL = 2",
        "NEGOTIATOR_CYCLE_DELAY = 5",
        "UPDATE_INTERVAL = 5",
        "CONDOR_Q_ONLY_MY_JOBS = False",
        // The master would otherwise tune the host's kernel (pid_max, port range) as root.
        "ENABLE_KERNEL_TUNING = False",
        "LINUX_KERNEL_TUNING_SCRIPT =",
        "",
      ].join("\n"),
    );
  }

  tool(name: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
    const dir = existsSync(join(this.release, "bin", name)) ? "bin" : "sbin";
    return run(join(this.release, dir, name), args, { env: this.env, maxBuffer: 64 << 20 });
  }

  /** Submits `description` as nobody; returns the cluster id. */
  async submit(description: string): Promise<number> {
    const jobs = join(this.dir, "jobs");
    await mkdir(jobs, { recursive: true, mode: 0o777 });
    await chmod(jobs, 0o777);
    const file = join(jobs, `job-${Date.now()}.sub`);
    await writeFile(file, description, { mode: 0o644 });
    const { stdout } = await run(
      "runuser",
      ["-u", "nobody", "--", join(this.release, "bin", "condor_submit"), file],
      { env: this.env, cwd: jobs },
    );
    const match = /submitted to cluster (\d+)/.exec(stdout);
    if (match === null) throw new Error(`condor_submit said: ${stdout}`);
    return Number(match[1]);
  }

  /** Completed jobs of these clusters, from condor_history: cluster.proc → the slot it ran on. */
  async completed(clusters: readonly number[]): Promise<Map<string, string>> {
    const done = new Map<string, string>();
    const { stdout } = await this.tool("condor_history", [
      "-constraint",
      `JobStatus == 4 && ExitCode == 0 && member(ClusterId, {${clusters.join(",")}})`,
      "-af:t",
      "ClusterId",
      "ProcId",
      "LastRemoteHost",
    ]);
    for (const line of stdout.split("\n")) {
      const [cluster, proc, host] = line.split("\t");
      if (cluster && proc && host) done.set(`${cluster}.${proc}`, host);
    }
    return done;
  }

  /** Every ad (any type) the collector holds that names this pool. */
  async adsOf(pool: string): Promise<string[]> {
    const { stdout } = await this.tool("condor_status", [
      "-any",
      "-constraint",
      `AutoscalerPool == "${pool}"`,
      "-af:t",
      "MyType",
      "Name",
    ]);
    return stdout.split("\n").filter((line) => line !== "");
  }

  async until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (await check()) return;
      } catch (error) {
        if (error instanceof DaemonExited) throw error;
        // not yet
      }
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  /** Stops the pool and waits (30 s at most) until its master is gone, logs written. */
  async stop(): Promise<void> {
    let pid: number;
    try {
      pid = Number((await readFile(this.pidFile, "utf8")).trim());
      if (!(pid > 0)) return;
      process.kill(pid, "SIGQUIT");
    } catch {
      return; // not running
    }
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /**
   * The files a pilot container needs besides its user_data, in `dir`: the HTCondor base config
   * and start.sh. Returns the cloud's `provider:` settings that mount them and the release.
   */
  async pilotProvider(dir: string): Promise<Record<string, unknown>> {
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, "condor_config"),
      [
        `RELEASE_DIR = ${PILOT_RELEASE}`,
        "LOCAL_DIR = /var/lib/condor",
        "LOCAL_CONFIG_DIR = /etc/condor/config.d",
        "use security:recommended",
        "TRUST_DOMAIN = 127.0.0.1",
        "UID_DOMAIN = localhost",
        "FILESYSTEM_DOMAIN = localhost",
        "NETWORK_INTERFACE = 127.0.0.1",
        "SEC_TOKEN_DIRECTORY = /etc/condor/tokens.d",
        "UPDATE_INTERVAL = 5",
        "ENABLE_KERNEL_TUNING = False",
        "LINUX_KERNEL_TUNING_SCRIPT =",
        "",
      ].join("\n"),
    );
    await writeFile(
      join(dir, "start.sh"),
      "#!/bin/sh\nfor d in log spool execute; do mkdir -p /var/lib/condor/$d; chown condor:condor /var/lib/condor/$d; done\nexec sh /entrypoint.sh\n",
      { mode: 0o755 },
    );
    const bind = (source: string, target: string) => ({ source, target, readOnly: true });
    return {
      command: ["/bin/sh", "/start.sh"],
      network: "host",
      environment: {
        CONDOR_CONFIG: PILOT_CONFIG,
        PATH: `${PILOT_RELEASE}/bin:${PILOT_RELEASE}/sbin:/usr/bin:/bin`,
      },
      mounts: [
        bind(this.release, PILOT_RELEASE),
        bind("/usr/lib", "/usr/lib"),
        bind("/usr/lib", "/lib"),
        bind("/lib64", "/lib64"),
        bind("/etc/passwd", "/etc/passwd"),
        bind("/etc/group", "/etc/group"),
        bind(join(dir, "condor_config"), PILOT_CONFIG),
        bind(join(dir, "start.sh"), "/start.sh"),
        bind(join(ROOT, "examples/pilot/entrypoint.sh"), "/entrypoint.sh"),
      ],
    };
  }
}

/** The daemon ended while a test waited on it: nothing it waits for can come. */
export class DaemonExited extends Error {
  override readonly name = "DaemonExited";
}

/** The daemon (`run`) in a child process with the pool's HTCondor environment; its log kept. */
export function startDaemon(config: string, env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [builtCli(), "run", "--config", config], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return {
    child,
    /** Throws DaemonExited, with what it said on stderr, once the daemon has ended. */
    alive: () => {
      if (child.exitCode !== null)
        throw new DaemonExited(`the daemon exited ${child.exitCode}: ${stderr.slice(-2000)}`);
    },
    messages: (): string[] =>
      stdout
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => String((JSON.parse(line) as { msg?: unknown }).msg)),
    stderr: () => stderr,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
