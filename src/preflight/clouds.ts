/**
 * A cloud's side of the preflight: its user-data renders with the real values, its credentials
 * resolve and a listing answers, its quota headroom, then the provider's own read-only checks.
 */
import type { CloudConfig } from "../config/schema.js";
import { ProviderError } from "../model/errors.js";
import { type PreflightCheck, passed, skipped } from "../model/preflight.js";
import type { Headroom } from "../model/snapshot.js";
import type { Provider } from "../providers/provider.js";
import { bounded } from "./bounded.js";

const CREDENTIALS_FIX: Readonly<Record<string, string>> = {
  ec2: "AWS credentials of the daemon's user: environment, ~/.aws/credentials (provider.profile) or the instance role",
  openstack:
    "clouds.yaml (+ secure.yaml) of the daemon's user, or OS_* variables in /etc/default/condor-autoscaler",
  docker: "provider.hosts or DOCKER_HOST, and this user's access to the socket",
  simulated: "",
};

function headroomText(headroom: Headroom): string {
  const parts = [
    headroom.instances === undefined ? undefined : `${headroom.instances} instances`,
    headroom.cpus === undefined ? undefined : `${headroom.cpus} cpus`,
    headroom.memoryMb === undefined ? undefined : `${headroom.memoryMb} MB`,
  ].filter((part) => part !== undefined);
  return parts.length === 0
    ? "the cloud does not tell (no limits known)"
    : `room for ${parts.join(", ")}`;
}

export async function cloudPreflight(
  cloud: CloudConfig,
  provider: Provider,
  renderUserData: (workerName: string) => Promise<string | undefined>,
  pool: string,
  seconds: number,
): Promise<PreflightCheck[]> {
  const name = (what: string) => `cloud ${cloud.name}: ${what}`;
  const userData = bounded(
    name("user-data renders"),
    seconds,
    "provider.userData: the template and condor.tokenFile must be readable by this user",
    async () => {
      const rendered = await renderUserData(`${pool}-${cloud.name}-preflight`);
      return rendered === undefined
        ? skipped(name("user-data renders"), "no userData template")
        : passed(name("user-data renders"), `${Buffer.byteLength(rendered)} bytes`);
    },
  );
  const listing = name("credentials resolve and its instances can be listed");
  const listed = await bounded(listing, seconds, CREDENTIALS_FIX[cloud.provider.kind], async () => {
    try {
      const instances = await provider.list();
      return passed(
        listing,
        `${instances.length} instance${instances.length === 1 ? "" : "s"} of this pool and cloud`,
      );
    } catch (error) {
      // The kind says what to fix: auth (credentials), config, or a cloud that did not answer.
      if (error instanceof ProviderError) throw new Error(`${error.kind}: ${error.message}`);
      throw error;
    }
  });
  // Without a listing the other calls would fail for the same reason: one line says it.
  if (listed.some((check) => check.outcome === "FAIL")) return [...(await userData), ...listed];
  const headroom =
    provider.headroom === undefined
      ? Promise.resolve([skipped(name("quota headroom"), "this cloud does not report its quota")])
      : bounded(name("quota headroom"), seconds, undefined, async () =>
          passed(name("quota headroom"), headroomText(await (provider.headroom?.() ?? {}))),
        );
  const own =
    provider.preflight === undefined
      ? Promise.resolve([])
      : bounded(
          name("read-only checks"),
          seconds,
          undefined,
          async () => (await provider.preflight?.()) ?? [],
        );
  return [...(await userData), ...listed, ...(await headroom), ...(await own)];
}
