/**
 * Parsing HTCondor output as the daemon does, against the least any reader must do with the same
 * text: `condor_q -af:t` (one tab-separated line per job) against splitting it into fields, and
 * `condor_status -slots -json` against a bare JSON.parse.
 *
 * The input is built deterministically (seededRandom) in memory before timing, framed exactly as
 * HTCondor 25 prints it (test/fixtures/htcondor/ has real captures): -json as
 * `[\n{\n  "Attr": value,\n...}\n,\n{...}\n]\n`, attributes sorted case-insensitively, two-space
 * indent, only the projected attributes; -af:t as values separated by tabs, `undefined` for an
 * attribute a job does not have.
 *
 * The paths of a scenario are timed alternately, with a full GC (untimed) before every sample, so
 * that none pays for another's garbage and drift hits all alike. One measurement per scenario feeds
 * several rows (bare, daemon, ratio), so it is taken once and shared. The notes say how much of each
 * sample was young-generation GC: a bare JSON.parse leaves its result for the next allocation to
 * scavenge, and the daemon path, allocating right after its parse, pays that inside its timing.
 */

import { constants, PerformanceObserver, performance } from "node:perf_hooks";
import vm from "node:vm";
import { type ClassAd, parseClassAds } from "../src/condor/classads.js";
import { JOB_COLUMNS, parseQueue } from "../src/condor/queue.js";
import { groupMachines, STARTD_ATTRIBUTES } from "../src/condor/startds.js";
import type { IdleJob, StartdMachine } from "../src/model/snapshot.js";
import { type Random, seededRandom } from "../src/random.js";
import {
  type Benchmark,
  collectGarbage,
  MB,
  median,
  type Result,
  timingResult,
} from "./harness.js";

/** A fixed "now" (the fixtures' epoch), so every run sees the same ads. */
const NOW = 1_795_347_900;
const RATIO_TARGET = 1.5;
/** 100k jobs take ~0.1 s a round; 10k slots ~20 ms, so they get more rounds for a steady median. */
const QUEUE_TIMING = { warmup: 3, runs: 15 };
const STARTD_TIMING = { warmup: 5, runs: 41 };

type Value = string | number | boolean;

/** HTCondor sorts attribute names case-insensitively (`GlobalJobId` < `GPUsProvisioned`). */
function byName(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

/** One ad as HTCondor prints it: sorted attributes, two-space indent, no trailing comma. */
function formatAd(ad: Record<string, Value>): string {
  const lines = Object.keys(ad)
    .sort(byName)
    .map((name) => `  ${JSON.stringify(name)}: ${JSON.stringify(ad[name])}`);
  return `{\n${lines.join(",\n")}\n}`;
}

/** A list of ads in HTCondor's framing; nothing at all when there are none. */
function formatAds(ads: readonly Record<string, Value>[]): string {
  return ads.length === 0 ? "" : `[\n${ads.map(formatAd).join("\n,\n")}\n]\n`;
}

function pick<T>(items: readonly T[], random: Random): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
}

function int(random: Random, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

/** Fails the benchmark when a generated ad carries an attribute the daemon does not project. */
function checkProjected(ads: readonly Record<string, Value>[], allowed: readonly string[]): void {
  const known = new Set(allowed);
  for (const ad of ads) {
    for (const name of Object.keys(ad)) {
      if (!known.has(name)) throw new Error(`generated attribute ${name} is not projected`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// condor_q -json: idle jobs

const JOB_COUNT = 100_000;
const JOB_SEED = 20_251_124;
const OWNERS = Array.from({ length: 40 }, (_, i) => `user${String(i).padStart(2, "0")}`);
const GROUPS = ["group_atlas", "group_cms.prod", "group_cms.analysis", "group_lhcb", "group_ops"];
const CLOUDS: readonly string[] = ["site-openstack", "ec2-spot", "ec2-gpu"];

/**
 * Idle job ads in clusters (one submit, many procs, same request), in cluster order as condor_q
 * prints them. About 10% of clusters ask for GPUs, about 30% carry an accounting group; QDate and
 * EnteredCurrentStatus differ when a job was idle, ran and came back.
 */
function jobAds(count: number, schedd: string, random: Random): Record<string, Value>[] {
  const ads: Record<string, Value>[] = [];
  let cluster = 1_000;
  while (ads.length < count) {
    cluster += int(random, 1, 4);
    const procs = Math.min(count - ads.length, 1 + Math.floor(random() ** 3 * 500));
    const qdate = NOW - int(random, 60, 3 * 86_400);
    const cpus = pick([1, 1, 1, 1, 2, 4, 8], random);
    const memory = cpus * pick([1024, 2000, 2048, 4096], random);
    const disk = pick([10_240, 1_048_576, 5_242_880, 20_971_520], random);
    const gpus = random() < 0.1 ? pick([1, 1, 2], random) : undefined;
    const owner = pick(OWNERS, random);
    const group = random() < 0.3 ? `${pick(GROUPS, random)}.${owner}` : undefined;
    for (let proc = 0; proc < procs; proc += 1) {
      const requeued = random() < 0.05;
      const ad: Record<string, Value> = {
        ClusterId: cluster,
        EnteredCurrentStatus: requeued ? qdate + int(random, 30, 3_600) : qdate,
        GlobalJobId: `${schedd}#${cluster}.${proc}#${qdate}`,
        JobStatus: 1,
        Owner: owner,
        ProcId: proc,
        QDate: qdate,
        RequestCpus: cpus,
        RequestDisk: disk,
        RequestMemory: memory,
      };
      if (gpus !== undefined) ad.RequestGPUs = gpus;
      if (group !== undefined) ad.AcctGroup = group;
      ads.push(ad);
    }
  }
  return ads;
}

/** The ads as `condor_q -af:t` prints JOB_COLUMNS of them. */
function formatAf(ads: readonly Record<string, Value>[]): string {
  let text = "";
  for (const ad of ads)
    text += `${JOB_COLUMNS.map((column) => String(ad[column] ?? "undefined")).join("\t")}\n`;
  return text;
}

/** What the daemon does with the answer when every cloud shares one constraint (no flags). */
function daemonQueue(
  stdout: string,
  clouds: readonly string[],
): { jobs: IdleJob[]; skipped: number } {
  const answer = parseQueue(stdout, "condor_q", clouds, false);
  return { jobs: answer.jobs, skipped: answer.skipped.count };
}

/** The least any reader of -af:t does: lines, then fields. */
function splitFields(stdout: string): string[][] {
  return stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.split("\t"));
}

// ---------------------------------------------------------------------------------------------
// condor_status -slots -json: slot ads

const SLOT_COUNT = 10_000;
const PSLOT_MACHINES = 3_000;
const STARTD_SEED = 20_251_125;
const POOL = "bench";

function hex(random: Random, digits: number): string {
  let text = "";
  for (let i = 0; i < digits; i += 1) text += Math.floor(random() * 16).toString(16);
  return text;
}

interface MachineSpec {
  host: string;
  ads: Record<string, Value>[];
  idle: boolean;
}

/** The attributes every slot of a worker shares: identity, address, the worker's clock. */
function workerBase(index: number, random: Random): { host: string; base: Record<string, Value> } {
  const cloudIndex = index % CLOUDS.length;
  const cloud = CLOUDS[cloudIndex] ?? "site-openstack";
  const instance = `i-0${hex(random, 16)}`;
  const host = `${POOL}-${cloud}-${instance.slice(3, 11)}.cloud.internal`;
  const ip = `10.${cloudIndex + 1}.${Math.floor(index / 250) % 256}.${(index % 250) + 1}`;
  const port = pick([9618, 9618, 9618, int(random, 30_000, 60_000)], random);
  return {
    host,
    base: {
      AutoscalerCloud: cloud,
      AutoscalerInstanceId: instance,
      AutoscalerPool: POOL,
      Machine: host,
      MyCurrentTime: NOW + int(random, -5, 5),
      MyType: "Machine",
      StartdIpAddr: `<${ip}:${port}?addrs=${ip}-${port}&alias=${host}>`,
    },
  };
}

/** A partitionable slot with 0–3 dynamic slots carved from it. */
function partitionableMachine(index: number, random: Random): MachineSpec {
  const { host, base } = workerBase(index, random);
  const cores = pick([4, 8, 8, 16], random);
  const memory = cores * 4096;
  const children = int(random, 0, 3);
  const started = NOW - int(random, 600, 86_400);
  const ads: Record<string, Value>[] = [];
  let usedCpus = 0;
  let usedMemory = 0;
  const dynamic: Record<string, Value>[] = [];
  for (let k = 1; k <= children; k += 1) {
    const cpus = Math.min(cores - usedCpus - (children - k), pick([1, 1, 2], random));
    const mem = cpus * pick([1024, 2048], random);
    usedCpus += cpus;
    usedMemory += mem;
    const since = NOW - int(random, 10, 7_200);
    dynamic.push({
      ...base,
      Activity: "Busy",
      Cpus: cpus,
      DynamicSlot: true,
      EnteredCurrentActivity: since,
      EnteredCurrentState: since,
      Memory: mem,
      Name: `slot1_${k}@${host}`,
      State: "Claimed",
      TotalSlotCpus: cpus,
    });
  }
  ads.push({
    ...base,
    Activity: "Idle",
    Cpus: cores - usedCpus,
    EnteredCurrentActivity: started,
    EnteredCurrentState: started,
    Memory: memory - usedMemory,
    Name: `slot1@${host}`,
    NumDynamicSlots: children,
    PartitionableSlot: true,
    State: "Unclaimed",
    TotalSlotCpus: cores,
  });
  ads.push(...dynamic);
  return { host, ads, idle: children === 0 };
}

/** A worker with `slots` static one-core slots, each busy with probability 0.6. */
function staticMachine(index: number, slots: number, random: Random): MachineSpec {
  const { host, base } = workerBase(index, random);
  const ads: Record<string, Value>[] = [];
  let idle = true;
  for (let k = 1; k <= slots; k += 1) {
    const busy = random() < 0.6;
    if (busy) idle = false;
    const since = NOW - int(random, 10, 7_200);
    ads.push({
      ...base,
      Activity: busy ? "Busy" : "Idle",
      Cpus: 1,
      EnteredCurrentActivity: since,
      EnteredCurrentState: since,
      Memory: 2048,
      Name: `slot${k}@${host}`,
      State: busy ? "Claimed" : "Unclaimed",
      TotalSlotCpus: 1,
    });
  }
  return { host, ads, idle };
}

/** 3,000 partitionable workers, then static workers (1–8 slots) up to `slotCount` slots in all. */
function startdMachines(slotCount: number, random: Random): MachineSpec[] {
  const machines: MachineSpec[] = [];
  let slots = 0;
  for (let i = 0; i < PSLOT_MACHINES; i += 1) {
    const machine = partitionableMachine(i, random);
    machines.push(machine);
    slots += machine.ads.length;
  }
  while (slots < slotCount) {
    const count = Math.min(slotCount - slots, int(random, 1, 8));
    machines.push(staticMachine(machines.length, count, random));
    slots += count;
  }
  // condor_status prints the slots of a machine together, machines in name order.
  return machines.sort((a, b) => byName(a.host, b.host));
}

function daemonStartds(stdout: string): { machines: StartdMachine[]; unattributed: number } {
  const ads = parseClassAds(stdout, "condor_status");
  return groupMachines(ads, NOW, new Map());
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface Measurement {
  /** Samples (ms) per path, keyed by path name; the first path is the bare JSON.parse. */
  samples: Map<string, number[]>;
  notes: string[];
}

interface Path {
  name: string;
  fn: () => unknown;
  check: (value: unknown) => void;
}

interface Timed {
  /** Samples (ms) per path name. */
  samples: Map<string, number[]>;
  /** Per path, per sample: ms spent in young-generation GCs (scavenges) that began inside it. */
  scavenges: Map<string, number[]>;
}

/**
 * Times the paths alternately, `runs` rounds after `warmup`, a full GC before every sample, and
 * records the scavenges that ran inside each timed sample (node reports GCs asynchronously).
 */
async function measureAlternately(
  paths: readonly Path[],
  timing: { warmup: number; runs: number },
): Promise<Timed> {
  const windows = new Map<string, [number, number][]>(paths.map((path) => [path.name, []]));
  const minorGcs: { start: number; duration: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { detail } = entry as { detail?: { kind?: number } | null };
      if (detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR)
        minorGcs.push({ start: entry.startTime, duration: entry.duration });
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  try {
    for (let round = 0; round < timing.warmup + timing.runs; round += 1) {
      for (const path of paths) {
        collectGarbage();
        const start = performance.now();
        const value = path.fn();
        const end = performance.now();
        path.check(value);
        if (round >= timing.warmup) windows.get(path.name)?.push([start, end]);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    observer.disconnect();
  }
  const samples = new Map<string, number[]>();
  const scavenges = new Map<string, number[]>();
  for (const [name, spans] of windows) {
    samples.set(
      name,
      spans.map(([start, end]) => end - start),
    );
    scavenges.set(
      name,
      spans.map(([start, end]) =>
        minorGcs
          .filter((gc) => gc.start >= start && gc.start < end)
          .reduce((sum, gc) => sum + gc.duration, 0),
      ),
    );
  }
  return { samples, scavenges };
}

type GcFunction = (options?: { type: "minor" | "major" }) => void;

/**
 * JSON.parse followed by two forced scavenges. A bare JSON.parse returns with its whole result
 * still in the young generation; whoever allocates next pays for the two scavenges that copy it
 * out. This shows what the parse costs once that is paid.
 */
function bareWithScavenges(stdout: string, count: number): Path {
  collectGarbage(); // turns on --expose-gc when node was started without it
  const gc = vm.runInNewContext("gc") as GcFunction;
  return {
    name: "bare+gc",
    fn: () => {
      const ads = JSON.parse(stdout) as unknown;
      gc({ type: "minor" });
      gc({ type: "minor" });
      return ads;
    },
    check: (value) => {
      if (!Array.isArray(value) || value.length !== count) throw new Error("bad parse");
    },
  };
}

function gcNotes(timed: Timed, paths: readonly string[]): string[] {
  const of = (map: Map<string, number[]>, name: string) => median(map.get(name) ?? []);
  const inside = paths
    .map((name) => `${name} ${of(timed.scavenges, name).toFixed(1)} ms`)
    .join(", ");
  const bare = of(timed.samples, "bare");
  const notes = [`scavenges inside the timed samples (median): ${inside}`];
  if (!timed.samples.has("bare+gc")) return notes;
  const withGc = of(timed.samples, "bare+gc");
  notes.push(
    `JSON.parse + 2 forced scavenges of its result: ${withGc.toFixed(1)} ms (bare + ${(withGc - bare).toFixed(1)} ms)`,
  );
  return notes;
}

function sizeNote(label: string, text: string, ads: number): string {
  return `${label}: ${ads} ads, ${(text.length / MB).toFixed(1)} MB of text, ${Math.round(text.length / ads)} bytes/ad`;
}

function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= make();
    return value;
  };
}

const measureQueue = once(async (): Promise<Measurement> => {
  const random = seededRandom(JOB_SEED);
  const generated = jobAds(JOB_COUNT, "head", random);
  const stdout = formatAf(generated);
  // `condor_q -global` with two schedds: one answer per schedd, one after the other.
  const half = JOB_COUNT / 2;
  const twoSchedds =
    formatAf(generated.slice(0, half)) +
    formatAf(jobAds(JOB_COUNT - half, "head2", seededRandom(JOB_SEED + 1)));
  const gpuJobs = generated.filter((ad) => ad.RequestGPUs !== undefined).length;
  const grouped = generated.filter((ad) => ad.AcctGroup !== undefined).length;
  const clusters = new Set(generated.map((ad) => ad.ClusterId)).size;

  const checkJobs = (expected: number) => (value: unknown) => {
    const answer = value as ReturnType<typeof daemonQueue>;
    if (answer.jobs.length !== expected || answer.skipped !== 0)
      throw new Error(`parse queue: ${answer.jobs.length} jobs, ${answer.skipped} skipped`);
  };
  const timed = await measureAlternately(
    [
      {
        name: "bare",
        fn: () => splitFields(stdout),
        check: (value) => {
          if (!Array.isArray(value) || value.length !== JOB_COUNT) throw new Error("bad split");
        },
      },
      { name: "daemon", fn: () => daemonQueue(stdout, CLOUDS), check: checkJobs(JOB_COUNT) },
      { name: "global", fn: () => daemonQueue(twoSchedds, CLOUDS), check: checkJobs(JOB_COUNT) },
    ],
    QUEUE_TIMING,
  );
  return {
    samples: timed.samples,
    notes: [
      sizeNote("condor_q -af:t", stdout, JOB_COUNT),
      `${clusters} clusters, ${gpuJobs} with RequestGPUs, ${grouped} with AcctGroup; one clouds array shared by all jobs`,
      ...gcNotes(timed, ["bare", "daemon", "global"]),
    ],
  };
});

const measureStartds = once(async (): Promise<Measurement> => {
  const machines = startdMachines(SLOT_COUNT, seededRandom(STARTD_SEED));
  const generated = machines.flatMap((machine) => machine.ads);
  checkProjected(generated, STARTD_ATTRIBUTES);
  const stdout = formatAds(generated);
  const idle = machines.filter((machine) => machine.idle).length;
  const pslots = generated.filter((ad) => ad.PartitionableSlot === true).length;
  const dslots = generated.filter((ad) => ad.DynamicSlot === true).length;

  const timed = await measureAlternately(
    [
      {
        name: "bare",
        fn: () => JSON.parse(stdout) as unknown,
        check: (value) => {
          if (!Array.isArray(value) || value.length !== SLOT_COUNT) throw new Error("bad parse");
        },
      },
      {
        name: "daemon",
        fn: () => daemonStartds(stdout),
        check: (value) => {
          const grouped = value as ReturnType<typeof daemonStartds>;
          const idleSeen = grouped.machines.filter((m) => m.activity === "idle").length;
          if (grouped.machines.length !== machines.length || idleSeen !== idle)
            throw new Error(
              `parse startds: ${grouped.machines.length} machines (${idleSeen} idle), expected ${machines.length} (${idle})`,
            );
        },
      },
      bareWithScavenges(stdout, SLOT_COUNT),
    ],
    STARTD_TIMING,
  );
  return {
    samples: timed.samples,
    notes: [
      sizeNote("condor_status -slots -json", stdout, SLOT_COUNT),
      `${machines.length} machines (${idle} idle): ${pslots} partitionable slots with ${dslots} dynamic, ${SLOT_COUNT - pslots - dslots} static`,
      ...gcNotes(timed, ["bare", "daemon"]),
    ],
  };
});

function samplesOf(measurement: Measurement, path: string): number[] {
  const samples = measurement.samples.get(path);
  if (samples === undefined || samples.length === 0) throw new Error(`no samples for ${path}`);
  return samples;
}

function pathRow(
  name: string,
  what: string,
  measure: () => Promise<Measurement>,
  path: string,
  notes: boolean,
): Benchmark {
  return {
    name,
    what,
    async run(): Promise<Result> {
      const measurement = await measure();
      return timingResult(samplesOf(measurement, path), notes ? measurement.notes : undefined);
    },
  };
}

function ratioRow(
  name: string,
  what: string,
  measure: () => Promise<Measurement>,
  path: string,
): Benchmark {
  return {
    name,
    what,
    target: { op: "≤", value: RATIO_TARGET, unit: "×" },
    async run(): Promise<Result> {
      const measurement = await measure();
      const bare = samplesOf(measurement, "bare");
      const slow = samplesOf(measurement, path);
      // Samples were taken in rounds, so round i of each path ran under the same conditions.
      const perRound = slow.map((ms, i) => ms / (bare[i] ?? Number.NaN));
      return {
        unit: "×",
        median: median(slow) / median(bare),
        runs: slow.length,
        notes: [
          `${median(slow).toFixed(1)} ms / ${median(bare).toFixed(1)} ms (medians); per-round ratios ${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)}`,
        ],
      };
    },
  };
}

export const condorParseBenchmarks: Benchmark[] = [
  pathRow(
    "parse queue: split",
    "lines split into fields: condor_q -af:t, 100k idle jobs",
    measureQueue,
    "bare",
    true,
  ),
  pathRow("parse queue: daemon", "parseQueue, same text", measureQueue, "daemon", false),
  ratioRow("parse queue: ratio", "daemon / split (medians)", measureQueue, "daemon"),
  pathRow(
    "parse queue: daemon -global",
    "same, 100k jobs as 2 schedds' answers one after the other",
    measureQueue,
    "global",
    false,
  ),
  ratioRow(
    "parse queue: -global ratio",
    "daemon -global / split of one answer",
    measureQueue,
    "global",
  ),
  pathRow(
    "parse startds: JSON.parse",
    "bare JSON.parse: condor_status -json, 10k slot ads",
    measureStartds,
    "bare",
    true,
  ),
  pathRow(
    "parse startds: daemon",
    "parseClassAds + groupMachines, same text",
    measureStartds,
    "daemon",
    false,
  ),
  ratioRow("parse startds: ratio", "daemon / JSON.parse (medians)", measureStartds, "daemon"),
];

/** For profiling outside the table: the inputs and the daemon paths. */
export const condorParseInternals = {
  jobText: (count = JOB_COUNT) => formatAf(jobAds(count, "head", seededRandom(JOB_SEED))),
  startdText: () =>
    formatAds(startdMachines(SLOT_COUNT, seededRandom(STARTD_SEED)).flatMap((m) => m.ads)),
  daemonQueue: (stdout: string) => daemonQueue(stdout, CLOUDS),
  daemonStartds,
  ads: (stdout: string): ClassAd[] => JSON.parse(stdout) as ClassAd[],
};
