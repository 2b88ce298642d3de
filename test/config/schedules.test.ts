/**
 * Schedule windows: when they open and close (in their time zone, across clock changes), that
 * the reading agrees with node-cron's own matcher, what the policy in force is while they are
 * open, how the planner honours it, and how a cloud file with a bad window is refused.
 */
import { join } from "node:path";
import test from "ava";
import fc from "fast-check";
import { createTask } from "node-cron";
import { loadConfig } from "../../src/config/load.js";
import {
  cloudInForce,
  lastStart,
  nextScheduleEdge,
  nextStart,
  openWindow,
} from "../../src/config/schedules.js";
import { ConfigError } from "../../src/model/errors.js";
import type { ScheduleWindow } from "../../src/model/policy.js";
import { plan } from "../../src/policy/plan.js";
import {
  cloud,
  jobs,
  launchActions,
  launched,
  memory,
  NOW,
  pool,
  snapshot,
  worker,
} from "../policy/builders.js";
import { configDir, VALID_CLOUD, VALID_GLOBAL } from "./config-dir.js";

const at = (iso: string) => Date.parse(iso) / 1000;
const iso = (seconds: number | undefined) =>
  seconds === undefined ? undefined : new Date(seconds * 1000).toISOString();

const OFFICE: ScheduleWindow = {
  cron: "0 8 * * 1-5",
  for: 10 * 3600,
  timezone: "Europe/Zurich",
  minWorkers: 4,
};

test("an office-hours window opens at 08:00 on weekdays in its time zone and closes 10 h later", (t) => {
  // Monday 7 December 2026; Zurich is UTC+1 in winter.
  t.is(openWindow(OFFICE, at("2026-12-07T06:59:59Z")), undefined);
  t.deepEqual(openWindow(OFFICE, at("2026-12-07T07:00:00Z")), {
    since: at("2026-12-07T07:00:00Z"),
    until: at("2026-12-07T17:00:00Z"),
  });
  t.truthy(openWindow(OFFICE, at("2026-12-07T16:59:59Z")));
  t.is(openWindow(OFFICE, at("2026-12-07T17:00:00Z")), undefined);
  // Saturday and Sunday: shut all day.
  t.is(openWindow(OFFICE, at("2026-12-12T10:00:00Z")), undefined);
  t.is(openWindow(OFFICE, at("2026-12-13T10:00:00Z")), undefined);
  // In summer 08:00 in Zurich is 06:00 UTC.
  t.is(
    iso(lastStart(OFFICE.cron, "Europe/Zurich", at("2026-07-06T09:00:00Z"), 3600 * 10)),
    "2026-07-06T06:00:00.000Z",
  );
});

test("a window without a time zone is read in the zone it is given (the host's, or the trace's)", (t) => {
  const window: ScheduleWindow = { cron: "0 2 * * 0", for: 2 * 3600, hold: true };
  const sundayThreeUtc = at("2026-12-06T03:00:00Z");
  t.truthy(openWindow(window, sundayThreeUtc, "UTC"));
  // 03:00 UTC is 19:00 the evening before in Los Angeles: shut there.
  t.is(openWindow(window, sundayThreeUtc, "America/Los_Angeles"), undefined);
});

test("across clock changes a start that the clock skips never comes and one it reads twice comes once", (t) => {
  const starts = (from: string, count: number) => {
    const found: Array<string | undefined> = [];
    let time = at(from);
    for (let i = 0; i < count; i++) {
      const next = nextStart("30 2 * * *", "Europe/Zurich", time);
      found.push(iso(next));
      time = next ?? Number.POSITIVE_INFINITY;
    }
    return found;
  };
  // 29 March 2026: 02:00 becomes 03:00, there is no 02:30.
  t.deepEqual(starts("2026-03-28T12:00:00Z", 2), [
    "2026-03-30T00:30:00.000Z",
    "2026-03-31T00:30:00.000Z",
  ]);
  // 25 October 2026: 03:00 becomes 02:00, 02:30 is read twice; the window starts at the first.
  t.deepEqual(starts("2026-10-24T12:00:00Z", 2), [
    "2026-10-25T00:30:00.000Z",
    "2026-10-26T01:30:00.000Z",
  ]);
});

test("the next start of a yearly window on 29 February is found four years ahead", (t) => {
  t.is(iso(nextStart("0 0 29 2 *", "UTC", at("2028-03-01T00:00:00Z"))), "2032-02-29T00:00:00.000Z");
});

const ZONES = ["UTC", "Asia/Kolkata", "America/New_York", "Europe/Zurich"];

/** The same local reading an hour before: the second reading of a time the clock repeats. */
function readTwice(seconds: number, zone: string): boolean {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    dateStyle: "short",
    timeStyle: "short",
  });
  return (
    format.format(new Date(seconds * 1000)) === format.format(new Date((seconds - 3600) * 1000))
  );
}

test("whether a window starts at a minute agrees with node-cron's own matcher, for every kind of field", (t) => {
  const field = (min: number, max: number) =>
    fc.oneof(
      fc.constant("*"),
      fc.integer({ min, max }).map(String),
      fc
        .tuple(fc.integer({ min, max }), fc.integer({ min, max }))
        .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
      fc.integer({ min: 2, max: 7 }).map((step) => `*/${step}`),
      fc.array(fc.integer({ min, max }), { minLength: 2, maxLength: 3 }).map((v) => v.join(",")),
    );
  const dayOfMonth = fc.oneof(field(1, 28), fc.constantFrom("L", "15W", "L-2", "1W"));
  const dayOfWeek = fc.oneof(field(0, 6), fc.constantFrom("5L", "0#1", "2#3", "MON-FRI"));
  const expression = fc
    .tuple(field(0, 59), field(0, 23), dayOfMonth, field(1, 12), dayOfWeek)
    .map((fields) => fields.join(" "));
  fc.assert(
    fc.property(
      expression,
      fc.integer({ min: at("2024-01-01T00:00:00Z") / 60, max: at("2030-01-01T00:00:00Z") / 60 }),
      fc.constantFrom(...ZONES),
      (cron, minute, zone) => {
        const seconds = minute * 60;
        fc.pre(!readTwice(seconds, zone));
        const task = createTask(cron, () => undefined, { timezone: zone });
        try {
          const ours = lastStart(cron, zone, seconds, 1) === seconds;
          return ours === task.match(new Date(seconds * 1000));
        } finally {
          void task.destroy();
        }
      },
    ),
    { numRuns: 400, seed: 15 },
  );
  t.pass();
});

test("while windows are open the highest floor and the lowest cap apply, a cap wins over a floor, and a hold says which window holds", (t) => {
  const base = cloud({
    minWorkers: 1,
    maxWorkers: 10,
    schedules: [
      { cron: "0 8 * * *", for: 10 * 3600, timezone: "UTC", minWorkers: 4 },
      { cron: "0 9 * * *", for: 3600, timezone: "UTC", minWorkers: 6 },
      { cron: "0 12 * * *", for: 3600, timezone: "UTC", maxWorkers: 3 },
      { cron: "0 17 * * *", for: 3600, timezone: "UTC", hold: true },
    ],
  });
  const inForce = (time: string) => cloudInForce(base, at(time));
  t.like(inForce("2026-12-07T07:00:00Z"), { minWorkers: 1, maxWorkers: 10, hold: undefined });
  t.is(inForce("2026-12-07T07:00:00Z").windows, undefined);
  t.like(inForce("2026-12-07T08:30:00Z"), { minWorkers: 4, maxWorkers: 10 });
  t.like(inForce("2026-12-07T09:30:00Z"), { minWorkers: 6, maxWorkers: 10 });
  t.is(inForce("2026-12-07T09:30:00Z").windows?.length, 2);
  t.like(inForce("2026-12-07T12:30:00Z"), { minWorkers: 3, maxWorkers: 3 });
  const held = inForce("2026-12-07T17:30:00Z");
  t.like(held, { minWorkers: 4, maxWorkers: 10 });
  t.regex(
    held.hold ?? "",
    /held by launches held \(schedule "0 17 \* \* \*" for 1h UTC\) until 2026-12-07T18:00:00/,
  );
});

test("the next edge is the nearest opening or closing of any window", (t) => {
  const policy = pool([cloud({ schedules: [{ cron: "0 8 * * *", for: 3600, minWorkers: 2 }] })]);
  t.is(
    iso(nextScheduleEdge(policy, at("2026-12-07T07:00:00Z"), "UTC")),
    "2026-12-07T08:00:00.000Z",
  );
  t.is(
    iso(nextScheduleEdge(policy, at("2026-12-07T08:00:00Z"), "UTC")),
    "2026-12-07T09:00:00.000Z",
  );
  t.is(
    iso(nextScheduleEdge(policy, at("2026-12-07T09:00:00Z"), "UTC")),
    "2026-12-08T08:00:00.000Z",
  );
  t.is(nextScheduleEdge(pool([cloud()]), NOW, "UTC"), Number.POSITIVE_INFINITY);
});

test("the planner launches nothing into a held cloud and its demand spills over to the next", (t) => {
  const held = cloud({ name: "alpha", priority: 1, hold: "held by maintenance (the test)" });
  const backup = cloud({ name: "beta", priority: 2 });
  const decided = plan(
    snapshot({ jobs: jobs(8, { clouds: ["alpha", "beta"] }) }),
    pool([held, backup]),
    memory(),
    NOW,
  );
  t.deepEqual(launched(decided), { beta: 2 });
  t.true(
    decided.notes.some((note) =>
      note.includes("alpha: could not take 8 more jobs: held by maintenance"),
    ),
  );
});

test("a window's minWorkers is topped up, and the reason names the floor in force", (t) => {
  const warm = cloudInForce(
    cloud({ schedules: [{ cron: "0 8 * * *", for: 36000, timezone: "UTC", minWorkers: 4 }] }),
    at("2026-12-07T08:00:00Z"),
  );
  const decided = plan(snapshot({ workers: [worker("i-1")] }), pool([warm]), memory(), NOW);
  t.is(launchActions(decided)[0]?.count, 3);
  t.regex(launchActions(decided)[0]?.reason ?? "", /3 to keep minWorkers 4/);
  t.true(decided.notes.some((note) => note.startsWith("alpha: minWorkers 4 (schedule")));
});

// ---- Cloud files ----

async function problemsOf(schedules: string) {
  const dir = await configDir({
    "autoscaler.yaml": VALID_GLOBAL,
    "clouds.d/a.yaml": `${VALID_CLOUD}schedules:\n${schedules}`,
  });
  const error = await (async () => {
    try {
      await loadConfig(dir);
      return undefined;
    } catch (caught) {
      return caught;
    }
  })();
  if (!(error instanceof ConfigError)) return [];
  return error.problems.map((p) => ({ ...p, file: p.file.replace(`${dir}/`, "") }));
}

test("a cloud file's schedules load with durations in seconds and reach the planner's policy", async (t) => {
  const dir = await configDir({
    "autoscaler.yaml": VALID_GLOBAL,
    "clouds.d/a.yaml": `${VALID_CLOUD}schedules:
  - {cron: "0 8 * * 1-5", for: 10h, minWorkers: 2, timezone: Europe/Zurich}
  - {cron: "0 2 * * 0", for: 2h, hold: true}
  - {cron: "0 20 * * *", for: 12h, maxWorkers: 1}
`,
  });
  const config = await loadConfig(dir);
  t.deepEqual(config.clouds[0]?.schedules, [
    { cron: "0 8 * * 1-5", for: 36000, minWorkers: 2, timezone: "Europe/Zurich" },
    { cron: "0 2 * * 0", for: 7200, hold: true },
    { cron: "0 20 * * *", for: 43200, maxWorkers: 1 },
  ]);
});

const refused: Array<{
  title: string;
  schedules: string;
  field: string;
  line: number;
  message: RegExp;
}> = [
  {
    title: "cron text node-cron does not take",
    schedules: '  - cron: "0 25 * * *"\n    for: 1h\n    hold: true\n',
    field: "schedules.0.cron",
    line: 11,
    message: /25 is a invalid expression for hour/,
  },
  {
    title: "a six-field cron (seconds)",
    schedules: '  - cron: "0 0 8 * * *"\n    for: 1h\n    hold: true\n',
    field: "schedules.0.cron",
    line: 11,
    message: /five/,
  },
  {
    title: "a window longer than 7 days",
    schedules: '  - cron: "0 8 * * 1"\n    for: 8d\n    hold: true\n',
    field: "schedules.0.for",
    line: 12,
    message: /at most 7d/,
  },
  {
    title: "a window shorter than a minute",
    schedules: '  - cron: "0 8 * * 1"\n    for: 30s\n    hold: true\n',
    field: "schedules.0.for",
    line: 12,
    message: /at least 1m/,
  },
  {
    title: "a window raising minWorkers above the cloud's maxWorkers",
    schedules: '  - cron: "0 8 * * 1"\n    for: 1h\n    minWorkers: 9\n',
    field: "schedules.0.minWorkers",
    line: 13,
    message: /must not exceed the cloud's maxWorkers \(4\)/,
  },
  {
    title: "an unknown time zone",
    schedules: '  - cron: "0 8 * * 1"\n    for: 1h\n    hold: true\n    timezone: Mars/Olympus\n',
    field: "schedules.0.timezone",
    line: 14,
    message: /IANA time zone/,
  },
  {
    title: "a window that does nothing",
    schedules: '  - cron: "0 8 * * 1"\n    for: 1h\n',
    field: "schedules.0",
    line: 11,
    message: /does nothing/,
  },
];

for (const { title, schedules, field, line, message } of refused)
  test(`a cloud file with ${title} is refused with its file, line and field`, async (t) => {
    const problems = await problemsOf(schedules);
    const found = problems.find((p) => p.field === field);
    t.truthy(found, JSON.stringify(problems));
    t.is(found?.file, join("clouds.d", "a.yaml"));
    t.is(found?.line, line, JSON.stringify(found));
    t.regex(found?.message ?? "", message);
  });
