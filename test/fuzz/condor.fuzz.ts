/**
 * HTCondor's answers: `condor_q -af:t` text (parseQueue) and `-json` text (parseClassAds, then
 * groupMachines on what it read), from random text and JSON and from mutations of the real
 * captures in test/fixtures/htcondor. Only a CondorError may come out.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { parseClassAds } from "../../src/condor/classads.js";
import { ALL_QUEUES_EMPTY, JOB_COLUMNS, parseQueue } from "../../src/condor/queue.js";
import { groupMachines } from "../../src/condor/startds.js";
import { CondorError } from "../../src/model/errors.js";
import {
  expect,
  type FuzzTarget,
  Input,
  mutatedJson,
  mutatedSample,
  ODD_NUMBERS,
  outcomeOf,
  property,
  randomJson,
  randomText,
  sabotageError,
  textInput,
} from "./support.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/htcondor");

function samples(suffix: string): Array<{ name: string; text: string }> {
  return readdirSync(FIXTURES)
    .filter((name) => name.endsWith(suffix))
    .sort()
    .map((name) => ({ name, text: readFileSync(join(FIXTURES, name), "utf8") }));
}

const AF_SAMPLES = [
  ...samples(".af.txt"),
  { name: "condor_q_global_empty_queue.txt", text: `${ALL_QUEUES_EMPTY}\n` },
];
const JSON_SAMPLES = samples(".json");
const PARSED_JSON_SAMPLES = JSON_SAMPLES.flatMap(({ name, text }) => {
  try {
    return [{ name, value: JSON.parse(text) as unknown }];
  } catch {
    return []; // the truncated and malformed captures are text samples only
  }
});

/** Called through this object, so that sabotage can replace them. */
const subjects = { parseQueue, parseClassAds, groupMachines };

const NOW = 1_795_350_000;
const QUEUE_COMMAND = "condor_q -global -af:t";
const STATUS_COMMAND = "condor_status -json";

// ---- condor_q -af:t ----

interface QueueCase {
  text: string;
  clouds: string[];
  flagged: boolean;
}

function queueInput(kind: string, text: string, clouds: string[], flagged: boolean) {
  return new Input<QueueCase>(
    kind,
    { text, clouds, flagged },
    (value) => `clouds=${JSON.stringify(value.clouds)} flagged=${value.flagged}\n${value.text}`,
  );
}

const cloudNames = fc.constantFrom<string[]>(["alpha"], ["alpha", "beta"], ["a", "b", "c"], []);

/** A field of an -af:t line: what HTCondor prints, and what it should not. */
const afField = fc.oneof(
  fc.constantFrom("1", "0", "undefined", "error", "", "vm#1.0#1795347830", "submitter", "128"),
  fc.constantFrom(...ODD_NUMBERS),
  fc.string({ maxLength: 20 }).map((text) => text.replace(/[\t\n]/g, " ")),
);

/** Lines of about the right width: most parse, some are a field short or long. */
const afGrid = fc
  .tuple(
    fc.integer({ min: -1, max: 4 }),
    fc.array(fc.array(afField, { minLength: 0, maxLength: 16 }), { maxLength: 40 }),
  )
  .map(([extra, rows]) =>
    rows
      .map((row) => {
        const width = Math.max(0, JOB_COLUMNS.length + extra);
        return Array.from({ length: width }, (_, i) => row[i % Math.max(1, row.length)] ?? "1");
      })
      .map((fields) => fields.join("\t"))
      .join("\n"),
  );

const queueText = fc.oneof(
  { weight: 2, arbitrary: randomText },
  { weight: 3, arbitrary: afGrid.map((text) => textInput("af grid", text)) },
  { weight: 5, arbitrary: mutatedSample("af sample", AF_SAMPLES) },
);

function checkQueue(input: Input<QueueCase>): Promise<string> {
  const { text, clouds, flagged } = input.value;
  return outcomeOf(() => subjects.parseQueue(text, QUEUE_COMMAND, clouds, flagged), CondorError, {
    value: (answer) => {
      expect(Number.isSafeInteger(answer.skipped.count), "skipped.count is not a count");
      for (const job of answer.jobs) {
        expect(typeof job.id === "string", `job id ${String(job.id)} is not a string`);
        for (const field of ["idleSince", "cpus", "memoryMb", "gpus"] as const)
          expect(Number.isFinite(job[field]), `job ${job.id}: ${field} is ${job[field]}`);
        expect(
          job.clouds.length > 0 && job.clouds.every((cloud) => clouds.includes(cloud)),
          `job ${job.id} names clouds ${JSON.stringify(job.clouds)} not asked for`,
        );
      }
      return answer.jobs.length > 0 ? "jobs" : "no jobs";
    },
  });
}

// ---- -json: parseClassAds, then groupMachines ----

/** Several lists back to back, as `condor_q -global -json` prints one per schedd. */
const globalLists = fc
  .array(fc.constantFrom(...JSON_SAMPLES), { minLength: 2, maxLength: 4 })
  .map((parts) =>
    textInput(
      `lists back to back: ${parts.map((p) => p.name).join(" + ")}`,
      parts.map((p) => p.text.trimEnd()).join("\n"),
    ),
  );

const jsonText = fc.oneof(
  { weight: 1, arbitrary: randomText },
  { weight: 1, arbitrary: randomJson },
  { weight: 4, arbitrary: mutatedSample("json sample", JSON_SAMPLES) },
  { weight: 4, arbitrary: mutatedJson("json sample", PARSED_JSON_SAMPLES) },
  { weight: 1, arbitrary: globalLists },
  { weight: 1, arbitrary: mutatedSample("lists", [{ name: "global", text: globalText() }]) },
);

function globalText(): string {
  const two = JSON_SAMPLES.find((s) => s.name === "condor_q_global_two_schedds.json");
  return two?.text ?? "[]";
}

function checkAds(input: Input<string>): Promise<string> {
  return outcomeOf(
    () => {
      const ads = subjects.parseClassAds(input.value, STATUS_COMMAND);
      // Twice, the second time with what the first remembered, as the daemon calls it tick after tick.
      const first = subjects.groupMachines(ads, NOW, new Map());
      return subjects.groupMachines(ads, NOW + 60, first.firstSeenIdle);
    },
    CondorError,
    {
      value: (grouped) => {
        expect(Number.isSafeInteger(grouped.unattributed), "unattributed is not a count");
        for (const machine of grouped.machines) {
          expect(typeof machine.name === "string", "a machine without a name");
          expect(
            machine.activity === "idle" || machine.activity === "busy",
            `machine ${machine.name}: activity ${String(machine.activity)}`,
          );
          const idle = machine.idleSeconds;
          expect(
            idle === undefined || (typeof idle === "number" && idle >= 0),
            `machine ${machine.name}: idleSeconds ${idle}`,
          );
        }
        for (const [key, since] of grouped.firstSeenIdle)
          expect(Number.isFinite(since), `firstSeenIdle of ${key} is ${since}`);
        return grouped.machines.length > 0 ? "machines" : "no machines";
      },
    },
  );
}

// ---- large inputs ----

/** About `bytes` of `unit` repeated. */
function repeatTo(unit: string, bytes: number): string {
  return unit.repeat(Math.max(1, Math.ceil(bytes / Math.max(1, unit.length))));
}

const MB = 1024 * 1024;

function largeQueues(): Input<QueueCase>[] {
  const af = AF_SAMPLES.find((s) => s.name === "01_condor_q_idle_jobs.af.txt")?.text ?? "";
  return [
    queueInput("3 MB of real -af:t lines", repeatTo(af, 3 * MB), ["alpha"], false),
    queueInput("one 3 MB line", repeatTo("1\t", 3 * MB), ["alpha"], false),
    queueInput("3 MB of newlines", repeatTo("\n", 3 * MB), ["alpha", "beta"], true),
    queueInput("3 MB of one field", repeatTo("9", 3 * MB), ["alpha"], false),
  ];
}

function largeAds(): Input<string>[] {
  const pslots = JSON_SAMPLES.find(
    (s) => s.name === "02_condor_status_busy_pslots_autoscaler.json",
  );
  const ads = (JSON.parse(pslots?.text ?? "[]") as unknown[]).slice(0, 3);
  const many = Array.from({ length: Math.ceil((3 * MB) / 45_000) * 7 }, (_, i) => ({
    ...(ads[i % ads.length] as Record<string, unknown>),
    Name: `slot1@worker${i}@vm`,
    AutoscalerInstanceId: `i-${i}`,
  }));
  return [
    textInput("3 MB list of real slot ads", JSON.stringify(many, null, 2)),
    // condor_q -global of a pool with very many schedds: one small list each.
    textInput(
      "3 MB of one-ad lists back to back",
      repeatTo('[\n{"Name":"slot1@w@vm"}\n]\n', 3 * MB),
    ),
    textInput("3 MB of empty lists back to back", repeatTo("[\n]\n", 3 * MB)),
    textInput("1 M nested arrays", `${"[".repeat(MB)}${"]".repeat(MB)}`),
    textInput("3 MB of whitespace", repeatTo(" \n\t", 3 * MB)),
    textInput("a 3 MB string attribute", `[{"Name": "${repeatTo("x", 3 * MB)}"}]`),
    textInput("3 MB of boundary markers", repeatTo("\n]\n[", 3 * MB)),
  ];
}

export const target: FuzzTarget = {
  properties: [
    property({
      name: "parseQueue reads any condor_q -af:t text as idle jobs or refuses it with a CondorError",
      runs: 1500,
      input: fc
        .tuple(queueText, cloudNames, fc.boolean())
        .map(([text, clouds, flagged]) => queueInput(text.kind, text.value, clouds, flagged)),
      examples: largeQueues,
      check: checkQueue,
    }),
    property({
      name: "parseClassAds then groupMachines read any -json text as machines or refuse it with a CondorError",
      runs: 1200,
      input: jsonText,
      examples: largeAds,
      check: checkAds,
    }),
  ],
  sabotage() {
    subjects.parseQueue = () => {
      throw sabotageError("parseQueue");
    };
    subjects.parseClassAds = () => {
      throw sabotageError("parseClassAds");
    };
  },
};
