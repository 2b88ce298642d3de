/** Parsing HTCondor's -json output (real captures from HTCondor 25.0.13) and reading attributes. */
import test from "ava";
import {
  booleanAttr,
  classAdString,
  numberAttr,
  parseClassAds,
  stringAttr,
} from "../../src/condor/classads.js";
import { CondorError } from "../../src/model/errors.js";
import { fixture } from "./fake-condor.js";

const COMMAND = "condor_q -global -json";

test("parses real condor_q -json output into one ad per job", (t) => {
  const ads = parseClassAds(fixture("02_condor_q_running_and_idle.json"), COMMAND);
  t.is(ads.length, 6);
  t.deepEqual(
    ads.map((ad) => [ad.GlobalJobId, ad.JobStatus]),
    [
      ["vm#1.0#1795347830", 2],
      ["vm#1.1#1795347830", 2],
      ["vm#1.2#1795347830", 2],
      ["vm#1.3#1795347830", 2],
      ["vm#1.4#1795347830", 1],
      ["vm#1.5#1795347830", 1],
    ],
  );
});

test("parses real condor_status -json slot ads, keeping types", (t) => {
  const ads = parseClassAds(fixture("02_condor_status_busy_pslots.json"), "condor_status -json");
  t.is(ads.length, 7);
  const pslot = ads.find((ad) => ad.Name === "slot1@worker2@vm");
  t.truthy(pslot);
  if (pslot === undefined) return;
  t.is(booleanAttr(pslot, "PartitionableSlot"), true);
  t.is(numberAttr(pslot, "NumDynamicSlots"), 2);
  t.is(stringAttr(pslot, "State"), "Unclaimed");
  t.deepEqual(pslot.ChildState, ["Claimed", "Claimed"]);
});

test("empty output (no ad matched: HTCondor prints nothing) is an empty list", (t) => {
  t.deepEqual(parseClassAds(fixture("05_condor_q_empty.json"), COMMAND), []);
  t.deepEqual(parseClassAds(fixture("01_condor_status_startd_empty.json"), COMMAND), []);
  t.deepEqual(parseClassAds("\n  \n", COMMAND), []);
});

test("truncated output is a CondorError of failure output naming the command", (t) => {
  const command = "condor_status -startd -json";
  const error = t.throws(
    () => parseClassAds(fixture("05_condor_status_idle_autoscaler_truncated.json"), command),
    { instanceOf: CondorError },
  );
  t.is(error?.failure, "output");
  t.is(error?.command, command);
  t.regex(
    error?.message ?? "",
    /^condor_status -startd -json: malformed or truncated JSON \(8192 bytes\)/,
  );
});

test("malformed output is a CondorError of failure output naming the command", (t) => {
  const error = t.throws(
    () => parseClassAds(fixture("01_condor_q_idle_jobs_malformed.json"), COMMAND),
    {
      instanceOf: CondorError,
    },
  );
  t.is(error?.failure, "output");
  t.true(error?.message.startsWith(`${COMMAND}: malformed or truncated JSON`));
});

test("a warning line in front of the JSON is malformed output, not a crash", (t) => {
  const error = t.throws(
    () =>
      parseClassAds(`Warning: something odd\n${fixture("01_condor_q_idle_jobs.json")}`, COMMAND),
    { instanceOf: CondorError },
  );
  t.is(error?.failure, "output");
});

test("several lists back to back (one per schedd with -global) are joined", (t) => {
  const ads = parseClassAds(fixture("condor_q_global_two_schedds.json"), COMMAND);
  t.is(ads.length, 8);
  t.deepEqual(
    ads.slice(5).map((ad) => ad.GlobalJobId),
    ["vm#1.5#1795347830", "vm2#1.4#1795347830", "vm2#1.5#1795347830"],
  );
});

test("a truncated second list of a -global answer still fails", (t) => {
  const text = fixture("condor_q_global_two_schedds.json");
  const error = t.throws(() => parseClassAds(text.slice(0, text.length - 200), COMMAND), {
    instanceOf: CondorError,
  });
  t.is(error?.failure, "output");
});

test("an element that is not an object is rejected, naming its index", (t) => {
  for (const text of ['[\n{"ClusterId": 1}\n,\n42\n]\n', '[{"a": 1}, null]', '[{"a": 1}, ["x"]]']) {
    const error = t.throws(() => parseClassAds(text, COMMAND), { instanceOf: CondorError });
    t.is(error?.failure, "output");
    t.regex(error?.message ?? "", /element 1 is not a ClassAd object/);
  }
});

test("a JSON value that is not a list is rejected", (t) => {
  const error = t.throws(() => parseClassAds('{"ClusterId": 1}', COMMAND), {
    instanceOf: CondorError,
  });
  t.regex(error?.message ?? "", /expected a JSON list of ClassAds/);
});

test("attribute readers check types: a string number, an expression or a NaN is no value", (t) => {
  const [ad] = parseClassAds(fixture("01_condor_q_bad_attributes.json"), COMMAND).slice(2, 3);
  t.truthy(ad);
  if (ad === undefined) return;
  t.is(
    ad.RequestMemory,
    "/Expr(ifThenElse(MemoryUsage =!= undefined, MemoryUsage, 128))/",
    "HTCondor writes an unevaluated expression as /Expr(...)/",
  );
  t.is(numberAttr(ad, "RequestMemory"), undefined);
  t.is(stringAttr(ad, "RequestMemory"), undefined);
  t.is(numberAttr({ RequestCpus: "1" }, "RequestCpus"), undefined);
  t.is(numberAttr({ RequestCpus: Number.NaN }, "RequestCpus"), undefined);
  t.is(numberAttr(ad, "RequestCpus"), 1);
  t.is(stringAttr(ad, "Owner"), "submitter");
  t.is(booleanAttr(ad, "LeaveJobInQueue"), false);
  t.is(booleanAttr({ DynamicSlot: "true" }, "DynamicSlot"), undefined);
});

test("classAdString quotes and escapes a ClassAd string literal", (t) => {
  t.is(classAdString("i-0abc"), '"i-0abc"');
  t.is(classAdString('a"b\\c'), '"a\\"b\\\\c"');
});

test("classAdString escapes line breaks and drops other control characters: a name cannot end an ad file's line", (t) => {
  t.is(classAdString("w-1\nRequirements = true"), '"w-1\\nRequirements = true"');
  t.is(classAdString("a\r\tb\u0000c\u001bd"), '"a\\r\\tbcd"');
  t.false(classAdString("x\ny").includes("\n"));
});

test("100 k lists back to back (condor_q -global of very many schedds) are read in linear time", (t) => {
  const lists = 100_000;
  const before = process.cpuUsage();
  const ads = parseClassAds('[\n{"Name":"slot1@w@vm"}\n]\n'.repeat(lists), COMMAND);
  const cpu = process.cpuUsage(before);
  t.is(ads.length, lists);
  // Each list's ads were once appended with concat, copying all before them: 25 s of CPU here.
  t.true(
    (cpu.user + cpu.system) / 1000 < 5000,
    `${Math.round((cpu.user + cpu.system) / 1000)} ms of CPU`,
  );
});
