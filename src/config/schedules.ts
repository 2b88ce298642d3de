/**
 * Schedule windows: a cron expression opens a window that stays open `for` seconds. node-cron
 * validates and parses the expressions (its own syntax: ranges, steps, names, L, W, #); whether a
 * window is open at a time `t` is computed here from those parsed fields, because node-cron can
 * say only whether one instant matches and when the next run after the *wall clock* is, and a
 * simulation asks about the trace's clock. The reading follows node-cron's matcher (tests check
 * they agree): day of month and day of week must both match, and a local time that does not exist
 * (a clock put forward) never fires.
 *
 * Everything here is a pure function of (windows, t, time zone): the tick computes the policy in
 * force before planning, and the simulator wakes at the next edge, deterministically.
 */
import { type ParsedFields, parse, validateDetailed } from "node-cron";
import type { CloudPolicy, PoolPolicy, ScheduleWindow } from "../model/policy.js";
import { SCHEDULE_LOOKAHEAD } from "./defaults.js";
import { formatDuration } from "./duration.js";

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** No time zone moves its clock by more than this at once; candidates farther from t are skipped. */
const MAX_SHIFT_MS = 3 * 3_600_000;

/** What is wrong with a schedule's cron text, or undefined when node-cron takes it. */
export function cronProblem(text: string): string | undefined {
  const fields = text.trim().split(/\s+/);
  if (!text.trim().startsWith("@") && fields.length === 6)
    return "six fields: a schedule's cron has five (minute hour day-of-month month day-of-week)";
  const checked = validateDetailed(text);
  if (checked.valid) return undefined;
  return checked.errors.map((e) => e.message).join("; ");
}

/** Whether a time zone name is one this Node.js knows (IANA, e.g. Europe/Zurich, UTC). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

// ---- Local time ----

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string | undefined): Intl.DateTimeFormat {
  const key = zone ?? "";
  let found = formatters.get(key);
  if (found === undefined) {
    found = new Intl.DateTimeFormat("en-US", {
      ...(zone === undefined ? {} : { timeZone: zone }),
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      hourCycle: "h23",
    });
    formatters.set(key, found);
  }
  return found;
}

/** The wall-clock reading of instant `ms` in `zone`, written as if it were UTC (ms). */
function localReading(ms: number, zone: string | undefined): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(new Date(ms)))
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  return Date.UTC(
    parts.year ?? 1970,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
    parts.second ?? 0,
  );
}

/**
 * The instants at which the clock of `zone` reads `local`, earliest first: none in a gap (clocks
 * put forward), two in an overlap (clocks put back). Offsets are taken a day either side.
 */
function instantsReading(local: number, zone: string | undefined): number[] {
  const offsets = new Set([
    localReading(local - DAY_MS, zone) - (local - DAY_MS),
    localReading(local + DAY_MS, zone) - (local + DAY_MS),
  ]);
  const found = [...offsets]
    .map((offset) => local - offset)
    .filter((instant) => localReading(instant, zone) === local);
  return [...new Set(found)].sort((a, b) => a - b);
}

/**
 * When a cron time starts on the clock of `zone`: the first instant that reads it. A time read
 * twice (clocks put back) starts once, as node-cron runs it once; one never read never starts.
 */
function firstReading(local: number, zone: string | undefined): number | undefined {
  return instantsReading(local, zone)[0];
}

// ---- The cron fields, read as node-cron reads them ----

interface Cron {
  minutes: number[];
  hours: number[];
  fields: ParsedFields;
}

const parsed = new Map<string, Cron>();

function cronOf(text: string): Cron {
  let found = parsed.get(text);
  if (found === undefined) {
    const fields = parse(text);
    found = {
      minutes: [...fields.minute].sort((a, b) => a - b),
      hours: [...fields.hour].sort((a, b) => a - b),
      fields,
    };
    parsed.set(text, found);
  }
  return found;
}

function lastDayOf(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function weekdayOf(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay();
}

/** The weekday nearest `target` in the month (node-cron's `W`). */
function nearestWeekday(year: number, month: number, target: number): number {
  const last = lastDayOf(year, month);
  if (target < 1 || target > last) return -1;
  const weekday = weekdayOf(year, month, target);
  if (weekday === 6) return target === 1 ? target + 2 : target - 1;
  if (weekday === 0) return target === last ? target - 2 : target + 1;
  return target;
}

function dayOfMonthMatches(values: ParsedFields["dayOfMonth"], y: number, m: number, d: number) {
  return values.some((value) => {
    if (typeof value === "number") return value === d;
    if (value === "L") return d === lastDayOf(y, m);
    const weekday = /^(\d{1,2}|L)W$/i.exec(value);
    if (weekday?.[1] !== undefined) {
      const target = weekday[1] === "L" ? lastDayOf(y, m) : Number(weekday[1]);
      return nearestWeekday(y, m, target) === d;
    }
    const offset = /^L-(\d{1,2})$/i.exec(value);
    if (offset?.[1] !== undefined) return lastDayOf(y, m) - Number(offset[1]) === d;
    return false;
  });
}

function dayOfWeekMatches(values: ParsedFields["dayOfWeek"], y: number, m: number, d: number) {
  const weekday = weekdayOf(y, m, d);
  return values.some((value) => {
    if (typeof value === "number") return value === weekday;
    const nth = /^([0-7])#([1-5])$/.exec(value);
    if (nth?.[1] !== undefined)
      return Number(nth[1]) % 7 === weekday && Math.floor((d - 1) / 7) + 1 === Number(nth[2]);
    const last = /^([0-7])L$/i.exec(value);
    if (last?.[1] !== undefined) return Number(last[1]) % 7 === weekday && d + 7 > lastDayOf(y, m);
    return false;
  });
}

/** Whether the cron names this local calendar day (`day` is a UTC-written local midnight). */
function dayMatches(cron: Cron, day: number): boolean {
  const date = new Date(day);
  const [y, m, d] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
  return (
    cron.fields.month.includes(m) &&
    dayOfMonthMatches(cron.fields.dayOfMonth, y, m, d) &&
    dayOfWeekMatches(cron.fields.dayOfWeek, y, m, d)
  );
}

/** The local times of one day the cron names (UTC-written), in order. */
function timesOf(cron: Cron, day: number): number[] {
  return cron.hours.flatMap((h) => cron.minutes.map((m) => day + h * 3_600_000 + m * MINUTE_MS));
}

/** The latest start at or before `t` (seconds) and after `t - lookback`, if there is one. */
export function lastStart(
  text: string,
  zone: string | undefined,
  t: number,
  lookback: number,
): number | undefined {
  const cron = cronOf(text);
  const at = t * 1000;
  const from = at - lookback * 1000;
  const local = localReading(at, zone);
  const firstDay = Math.floor((local - lookback * 1000 - MAX_SHIFT_MS) / DAY_MS) * DAY_MS;
  for (let day = Math.floor(local / DAY_MS) * DAY_MS; day >= firstDay; day -= DAY_MS) {
    if (!dayMatches(cron, day)) continue;
    for (const time of timesOf(cron, day).reverse()) {
      // Far from t on the local clock: no zone's shift can bring it in, and converting costs.
      if (time > local + MAX_SHIFT_MS || time < local - lookback * 1000 - MAX_SHIFT_MS) continue;
      const instant = firstReading(time, zone);
      if (instant !== undefined && instant <= at && instant > from) return instant / 1000;
    }
  }
  return undefined;
}

/** The first start after `t` (seconds), within SCHEDULE_LOOKAHEAD. */
export function nextStart(text: string, zone: string | undefined, t: number): number | undefined {
  const cron = cronOf(text);
  const at = t * 1000;
  const local = localReading(at, zone);
  const lastDay = local + SCHEDULE_LOOKAHEAD * 1000;
  for (let day = Math.floor(local / DAY_MS) * DAY_MS - DAY_MS; day <= lastDay; day += DAY_MS) {
    if (!dayMatches(cron, day)) continue;
    for (const time of timesOf(cron, day)) {
      if (time < local - MAX_SHIFT_MS) continue;
      const instant = firstReading(time, zone);
      if (instant !== undefined && instant > at) return instant / 1000;
    }
  }
  return undefined;
}

// ---- Windows in force ----

/** When a window that is open at `t` opened and closes (seconds), or undefined when it is shut. */
export function openWindow(
  window: ScheduleWindow,
  t: number,
  defaultZone?: string,
): { since: number; until: number } | undefined {
  const since = lastStart(window.cron, window.timezone ?? defaultZone, t, window.for);
  return since === undefined ? undefined : { since, until: since + window.for };
}

function describe(window: ScheduleWindow): string {
  const effects = [
    ...(window.minWorkers === undefined ? [] : [`minWorkers ${window.minWorkers}`]),
    ...(window.maxWorkers === undefined ? [] : [`maxWorkers ${window.maxWorkers}`]),
    ...(window.hold === true ? ["launches held"] : []),
  ];
  return `${effects.join(", ")} (schedule "${window.cron}" for ${formatDuration(window.for)}${window.timezone === undefined ? "" : ` ${window.timezone}`})`;
}

/** One cloud's policy as its open windows make it at `t`: a floor raised, a cap lowered, a hold. */
export function cloudInForce(cloud: CloudPolicy, t: number, defaultZone?: string): CloudPolicy {
  if (cloud.schedules === undefined || cloud.schedules.length === 0) return cloud;
  let { minWorkers, maxWorkers } = cloud;
  let hold: string | undefined;
  const windows: string[] = [];
  for (const window of cloud.schedules) {
    const open = openWindow(window, t, defaultZone);
    if (open === undefined) continue;
    const text = `${describe(window)} until ${new Date(open.until * 1000).toISOString()}`;
    windows.push(text);
    if (window.minWorkers !== undefined) minWorkers = Math.max(minWorkers, window.minWorkers);
    if (window.maxWorkers !== undefined) maxWorkers = Math.min(maxWorkers, window.maxWorkers);
    if (window.hold === true) hold ??= `held by ${text}`;
  }
  if (windows.length === 0) return cloud;
  // A cap wins over a floor when windows overlap: the cap is what the site pays by.
  minWorkers = Math.min(minWorkers, maxWorkers);
  return { ...cloud, minWorkers, maxWorkers, windows, ...(hold === undefined ? {} : { hold }) };
}

/** The pool's policy in force at `t` (what the planner is given). */
export function policyInForce(policy: PoolPolicy, t: number, defaultZone?: string): PoolPolicy {
  if (!policy.clouds.some((c) => (c.schedules?.length ?? 0) > 0)) return policy;
  return { ...policy, clouds: policy.clouds.map((c) => cloudInForce(c, t, defaultZone)) };
}

/** The first time after `t` at which a window of the pool opens or closes, or Infinity. */
export function nextScheduleEdge(policy: PoolPolicy, t: number, defaultZone?: string): number {
  let edge = Number.POSITIVE_INFINITY;
  for (const cloud of policy.clouds)
    for (const window of cloud.schedules ?? []) {
      const zone = window.timezone ?? defaultZone;
      const open = openWindow(window, t, defaultZone);
      if (open !== undefined && open.until > t) edge = Math.min(edge, open.until);
      const next = nextStart(window.cron, zone, t);
      if (next !== undefined) edge = Math.min(edge, next);
    }
  return edge;
}
