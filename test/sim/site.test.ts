/**
 * Sites and policies: a policy sets knobs on the site's clouds and can neither add a cloud nor
 * change what a cloud is; several `--config` directories must be the same site.
 */
import test from "ava";
import { loadConfig } from "../../src/config/load.js";
import { cloudSchema, globalSchema } from "../../src/config/schema.js";
import {
  applyPolicy,
  POLICY_CLOUD_FIELDS,
  POLICY_GLOBAL_FIELDS,
  SITE_CLOUD_FIELDS,
  SiteError,
  siteDifference,
} from "../../src/sim/site.js";
import { configDir, VALID_CLOUD, VALID_GLOBAL } from "../config/config-dir.js";

const SITE_CLOUD = `${VALID_CLOUD}costPerHour: 0.5
backoff:
  initial: 30s
  max: 5m
`;

async function site() {
  return loadConfig(
    await configDir({
      "autoscaler.yaml": `${VALID_GLOBAL}persistence: 2m\n`,
      "clouds.d/alpha.yaml": SITE_CLOUD,
      "clouds.d/beta.yaml": SITE_CLOUD.replace("priority: 1", "priority: 2"),
    }),
  );
}

async function refusal(files: Record<string, string>): Promise<string> {
  const dir = await configDir(files);
  const error = await applyPolicy(await site(), dir).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof SiteError)) throw new Error(`not refused: ${String(error)}`);
  return error.message;
}

test("every field of a cloud file is either a site field or a policy field, never both", (t) => {
  const fields = Object.keys(cloudSchema.shape).sort();
  t.deepEqual([...SITE_CLOUD_FIELDS, ...POLICY_CLOUD_FIELDS].sort(), fields);
  for (const field of POLICY_GLOBAL_FIELDS) t.true(field in globalSchema.shape, field);
});

test("a policy's cloud file sets policy fields on the site's cloud; what it leaves out is the site's", async (t) => {
  const base = await site();
  const dir = await configDir({
    "clouds.d/alpha.yaml": "idleTimeout: 3m\nminWorkers: 1\nbackoff:\n  max: 10m\n",
  });
  const config = await applyPolicy(base, dir);
  const [alpha, beta] = config.clouds;
  t.is(alpha?.idleTimeout, 180);
  t.is(alpha?.minWorkers, 1);
  t.deepEqual(alpha?.backoff, { ...base.clouds[0]?.backoff, max: 600 }, "backoff field by field");
  t.deepEqual(alpha?.provider, base.clouds[0]?.provider, "the site's provider");
  t.deepEqual(alpha?.worker, base.clouds[0]?.worker);
  t.is(alpha?.costPerHour, 0.5);
  t.deepEqual(beta, base.clouds[1], "a cloud the policy does not name is the site's");
  t.is(config.global.persistence, 120, "no autoscaler.yaml: the site's knobs");
});

test("a policy's autoscaler.yaml needs neither pool nor condor and sets only the policy knobs", async (t) => {
  const base = await site();
  const dir = await configDir({ "autoscaler.yaml": "persistence: 5m\ntickInterval: 1m\n" });
  const config = await applyPolicy(base, dir);
  t.is(config.global.persistence, 300);
  t.is(config.global.tickInterval, 60);
  t.is(config.global.pool, base.global.pool);
  t.deepEqual(config.clouds, base.clouds);
});

test("a policy repeating the site's own files (a complete config directory) is accepted", async (t) => {
  const base = await site();
  const config = await applyPolicy(base, base.dir);
  t.deepEqual(
    config.clouds.map(({ file: _file, ...cloud }) => cloud),
    base.clouds.map(({ file: _file, ...cloud }) => cloud),
  );
});

test("a policy cloud file naming a cloud the site lacks is refused naming the file and the site's clouds", async (t) => {
  const message = await refusal({ "clouds.d/gamma.yaml": "idleTimeout: 3m\n" });
  t.regex(message, /^--policy \S+: \S+clouds\.d\/gamma\.yaml: cloud "gamma" is not in the site/);
  t.regex(message, /\(its clouds: alpha, beta\)$/);
  t.notRegex(message, /\n/);
});

test("a policy changing a site field is refused naming the file, its line and the field", async (t) => {
  const boot = await refusal({
    "clouds.d/alpha.yaml": "idleTimeout: 3m\nprovider:\n  kind: simulated\n  bootDelay: 5m\n",
  });
  t.regex(
    boot,
    /^--policy \S+: \S+alpha\.yaml:4: provider\.bootDelay: is a site field \(the site \S+ has 120, this file 300\)/,
  );
  const shape = await refusal({ "clouds.d/beta.yaml": "worker:\n  cpus: 8\n  memoryMb: 8000\n" });
  t.regex(shape, /beta\.yaml:2: worker\.cpus: is a site field .*has 4, this file 8\)/);
  const cap = await refusal({ "clouds.d/beta.yaml": "maxWorkers: 40\n" });
  t.regex(cap, /beta\.yaml:1: maxWorkers: is a site field/);
  const price = await refusal({ "clouds.d/beta.yaml": "costPerHour: 0.1\n" });
  t.regex(price, /beta\.yaml:1: costPerHour: is a site field/);
});

test("an invalid policy value is refused in one line naming the file and field", async (t) => {
  const message = await refusal({ "clouds.d/alpha.yaml": "idleTimeout: soon\n" });
  t.regex(message, /^--policy \S+: \S+alpha\.yaml:1: idleTimeout: /);
  t.notRegex(message, /\n/);
  const empty = await refusal({ README: "nothing here\n" });
  t.regex(empty, /neither autoscaler\.yaml nor clouds\.d\/ found there$/);
});

test("two config directories are the same site only with the same clouds and the same site fields", async (t) => {
  const base = await site();
  const knobs = await loadConfig(
    await configDir({
      "autoscaler.yaml": VALID_GLOBAL,
      "clouds.d/alpha.yaml": SITE_CLOUD.replace("idleTimeout: 10m", "idleTimeout: 1m"),
      "clouds.d/beta.yaml": SITE_CLOUD.replace("priority: 1", "priority: 3"),
    }),
  );
  t.is(siteDifference(base, knobs), undefined, "policy fields may differ");
  const slower = await loadConfig(
    await configDir({
      "autoscaler.yaml": VALID_GLOBAL,
      "clouds.d/alpha.yaml": SITE_CLOUD.replace("bootDelay: 2m", "bootDelay: 4m"),
      "clouds.d/beta.yaml": SITE_CLOUD,
    }),
  );
  t.regex(
    siteDifference(base, slower) ?? "",
    /alpha\.yaml: provider\.bootDelay is 240, \S+ has 120$/,
  );
  const fewer = await loadConfig(
    await configDir({ "autoscaler.yaml": VALID_GLOBAL, "clouds.d/alpha.yaml": SITE_CLOUD }),
  );
  t.regex(
    siteDifference(base, fewer) ?? "",
    /^its clouds \(alpha\) are not those of \S+ \(alpha, beta\)$/,
  );
});
