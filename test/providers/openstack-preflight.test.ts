/**
 * OpenStack's preflight over HTTP (nock with the Keystone/Nova/Glance samples): the flavor and
 * image lookups a launch makes, the key pair and the availability zone; networks are skipped.
 */
import test from "ava";
import nock from "nock";
import { isolateNock } from "./nock-hooks.js";
import { fixture, glance, keystone, NOVA_PATH, nova, openstack } from "./openstack-support.js";
import { START } from "./settings.js";

isolateNock(test);

/** GET /os-availability-zone as Nova's API reference shows it: one zone per entry. */
const ZONES = {
  availabilityZoneInfo: [
    { zoneState: { available: true }, hosts: null, zoneName: "nova" },
    { zoneState: { available: false }, hosts: null, zoneName: "down-zone" },
  ],
};

function flavors(): void {
  nova()
    .get(`${NOVA_PATH}/flavors/detail`)
    .query({ limit: "200" })
    .reply(200, fixture("nova_flavors_flavors-detail-resp.json"));
}

test.serial(
  "a cloud whose flavor, image, key pair and zone all exist passes, networks skipped, read-only",
  async (t) => {
    const { provider } = openstack({ provider: { keyName: "admin", availabilityZone: "nova" } });
    keystone(START);
    flavors();
    glance()
      .get("/v2/images")
      .query({ name: "cirros-0.3.2-x86_64-disk" })
      .reply(200, fixture("glance_v2_images-list-response.json"));
    nova()
      .get(`${NOVA_PATH}/os-keypairs/admin`)
      .reply(200, { keypair: { name: "admin" } });
    nova().get(`${NOVA_PATH}/os-availability-zone`).reply(200, ZONES);
    const checks = await provider.preflight();
    t.deepEqual(
      checks.map((check) => [check.outcome, check.what]),
      [
        ["ok", "cloud cern: flavor m1.large"],
        ["ok", "cloud cern: image cirros-0.3.2-x86_64-disk"],
        ["ok", "cloud cern: key pair admin"],
        ["ok", "cloud cern: availability zone nova"],
        ["skip", "cloud cern: networks auto"],
      ],
    );
    t.regex(checks[0]?.detail ?? "", /^m1\.large: \d+ vCPUs, \d+ MB$/);
    t.deepEqual(nock.pendingMocks(), []);
  },
);

test.serial(
  "a missing image, key pair or zone fails with what Nova and Glance offer and the fix",
  async (t) => {
    const { provider } = openstack({
      provider: { image: "cernvm-5", keyName: "gone", availabilityZone: "down-zone" },
    });
    keystone(START);
    flavors();
    glance().get("/v2/images").query({ name: "cernvm-5" }).reply(200, { images: [] });
    nova()
      .get(`${NOVA_PATH}/os-keypairs/gone`)
      .reply(404, fixture("nova-error_404_itemNotFound_api-guide.json"));
    nova().get(`${NOVA_PATH}/os-availability-zone`).reply(200, ZONES);
    const checks = await provider.preflight();
    const failures = checks.filter((check) => check.outcome === "FAIL");
    t.deepEqual(
      failures.map((check) => check.what),
      [
        "cloud cern: image cernvm-5",
        "cloud cern: key pair gone",
        "cloud cern: availability zone down-zone",
      ],
    );
    t.regex(failures[0]?.detail ?? "", /image "cernvm-5" not found/);
    t.regex(failures[0]?.fix ?? "", /^provider\.image/);
    t.is(failures[1]?.detail, "not found");
    t.regex(failures[1]?.fix ?? "", /^provider\.keyName/);
    t.is(failures[2]?.detail, "not among the available zones (nova)");
  },
);
