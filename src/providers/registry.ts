/**
 * The cloud providers by kind, each imported only when a configuration uses it: loading the AWS
 * SDK alone takes over a second, which `--help`, `validate` and `status` should not pay.
 */
import type { CloudSettings } from "../config/schema.js";
import type { ProviderContext } from "./context.js";
import type { Provider } from "./provider.js";

/** A cloud kind that talks to a real API (the simulated one is built with its pool). */
export type RealProviderSettings = Exclude<CloudSettings["provider"], { kind: "simulated" }>;

export async function realProvider(
  settings: RealProviderSettings,
  context: ProviderContext,
): Promise<Provider> {
  switch (settings.kind) {
    case "ec2": {
      const { Ec2Provider } = await import("./ec2/ec2.js");
      return new Ec2Provider(settings, context);
    }
    case "openstack": {
      const { OpenStackProvider } = await import("./openstack/nova.js");
      return new OpenStackProvider(settings, context);
    }
    case "docker": {
      const { DockerProvider } = await import("./docker/docker.js");
      return new DockerProvider(settings, context);
    }
  }
}
