/**
 * How each real kind of cloud (providers/kinds.ts) becomes a provider. Each is imported only when
 * a configuration uses it: loading the AWS SDK alone takes over a second, which `--help`,
 * `validate` and `status` should not pay.
 */
import type { ProviderContext } from "./context.js";
import type { ProviderSettings } from "./kinds.js";
import type { Provider } from "./provider.js";

/** A cloud kind that talks to a real API (the simulated one is built with its pool). */
export type RealProviderSettings = Exclude<ProviderSettings, { kind: "simulated" }>;
type SettingsOf = {
  [K in RealProviderSettings["kind"]]: Extract<RealProviderSettings, { kind: K }>;
};

const FACTORIES: {
  [K in keyof SettingsOf]: (settings: SettingsOf[K], context: ProviderContext) => Promise<Provider>;
} = {
  ec2: async (settings, context) =>
    new (await import("./ec2/ec2.js")).Ec2Provider(settings, context),
  openstack: async (settings, context) =>
    new (await import("./openstack/nova.js")).OpenStackProvider(settings, context),
  docker: async (settings, context) =>
    new (await import("./docker/docker.js")).DockerProvider(settings, context),
};

export function realProvider<K extends keyof SettingsOf>(
  settings: SettingsOf[K] & { kind: K },
  context: ProviderContext,
): Promise<Provider> {
  const create: (settings: SettingsOf[K], context: ProviderContext) => Promise<Provider> =
    FACTORIES[settings.kind];
  return create(settings, context);
}
