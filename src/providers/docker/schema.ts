/** The `provider:` section of a Docker cloud file: pilot containers on one or more Docker hosts. */
import { z } from "zod";
import * as d from "../../config/defaults.js";
import { duration } from "../../config/duration.js";

const positiveDuration = duration.refine((seconds) => seconds >= 1, "must be at least 1s");

/**
 * Head-node paths never to be handed to a pilot (whose jobs are not trusted) nor written into:
 * the root, kernel interfaces, root's home, and where credentials live. (/etc/machinefeatures,
 * WLCG's place for machine features, stays allowed; /etc itself does not.)
 */
const PROTECTED = [
  "/root",
  "/proc",
  "/sys",
  "/dev",
  "/boot",
  "/run",
  "/etc/condor",
  "/etc/condor-autoscaler",
  "/etc/openstack",
  "/etc/ssh",
  "/etc/ssl/private",
  "/etc/pki",
  "/etc/shadow",
  "/etc/gshadow",
  "/etc/sudoers",
];
/** Refused as a whole, though paths below them may be given. */
const PROTECTED_EXACTLY = ["/", "/etc", "/home", "/var", "/usr"];

/** Why a host path may not be given to pilots, or undefined when it may. */
export function unsafeHostPath(path: string): string | undefined {
  if (!path.startsWith("/")) return "must be an absolute path";
  if (path.split("/").some((part) => part === ".." || part === "."))
    return "must not contain . or .. (write the path it means)";
  const normal = path.replace(/\/+$/, "") || "/";
  if (normal === "/") return "the head node's whole file system: refused";
  if (PROTECTED_EXACTLY.includes(normal))
    return `all of ${normal}: refused (name the directory meant)`;
  const inside = PROTECTED.find((p) => normal === p || normal.startsWith(`${p}/`));
  if (inside !== undefined) return `${inside} is the head node's own: refused`;
  return undefined;
}

const hostPath = z.string().superRefine((path, context) => {
  const why = unsafeHostPath(path);
  if (why !== undefined) context.addIssue({ code: "custom", message: why });
});

const dockerHost = z
  .strictObject({
    url: z
      .string()
      .regex(
        /^(unix:\/\/\/.+|tcp:\/\/[^/\s]+:\d+)$/,
        "unix:///path/to/docker.sock or tcp://host:port",
      ),
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-'")
      .optional()
      .meta({ description: "How logs and backoff scopes name this host; default: from the url" }),
    tls: z
      .strictObject({
        certPath: z.string().min(1).meta({
          description: "Directory with ca.pem, cert.pem and key.pem (as DOCKER_CERT_PATH)",
        }),
      })
      .optional()
      .meta({ description: "TLS with client certificates, for tcp:// hosts" }),
    maxContainers: z.number().int().nonnegative().optional().meta({
      description:
        "At most this many containers of the pool (of any of its clouds) on the host; default: as CPUs and memory allow",
    }),
  })
  .refine((host) => host.tls === undefined || host.url.startsWith("tcp://"), {
    message: "tls is for tcp:// hosts",
    path: ["tls"],
  });

export const dockerProviderSchema = z
  .strictObject({
    kind: z.literal("docker"),
    hosts: z
      .array(dockerHost)
      .min(1)
      .refine(
        (hosts) => {
          const names = hosts.flatMap((host) => (host.name === undefined ? [] : [host.name]));
          const urls = hosts.map((host) => host.url);
          return new Set(names).size === names.length && new Set(urls).size === urls.length;
        },
        { message: "each host once: two hosts have the same name or url" },
      )
      .optional()
      .meta({
        description: `Docker endpoints; default: $DOCKER_HOST (with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), else ${d.DEFAULT_DOCKER_SOCKET}`,
      }),
    image: z.string().min(1).meta({
      description:
        "Image name:tag, resolved on the host at each launch (never pulled): new workers get what the tag names then",
    }),
    command: z.array(z.string()).min(1).optional().meta({
      description: "Command of the container; default: /user_data when the cloud has user-data",
    }),
    environment: z
      .record(
        z
          .string()
          .regex(
            /^[A-Za-z_][A-Za-z0-9_]*$/,
            "a variable name: letters, digits and '_', not starting with a digit",
          ),
        z.string(),
      )
      .default({}),
    perJob: z.boolean().default(false).meta({
      description:
        "One container per job: the planner asks for one per idle job; the pilot exits after its job",
    }),
    cpuLimit: z.enum(["nanoCpus", "cpuShares"]).default("nanoCpus").meta({
      description: "nanoCpus: a hard limit of worker.cpus; cpuShares: a weight of 1024 per cpu",
    }),
    workDir: hostPath.default(d.DEFAULT_DOCKER_WORK_DIR).meta({
      description:
        "Directory for each container's user_data and joboutputs; must be the same path on every host (local, or shared)",
    }),
    machineFeatures: hostPath.optional().meta({
      description: "Host directory mounted read-only at /etc/machinefeatures",
    }),
    jobFeatures: hostPath.optional().meta({
      description: "Host directory mounted read-only at /etc/jobfeatures",
    }),
    cvmfs: z.boolean().default(false).meta({ description: "Mount the host's /cvmfs read-only" }),
    cvmfsPropagation: z.enum(["rslave", "none"]).default("rslave").meta({
      description:
        "rslave: repositories autofs mounts on the host later show up in running pilots (the host's /cvmfs must be a shared or slave mount); none: plain bind of what is mounted now",
    }),
    mounts: z
      .array(
        z.strictObject({
          source: hostPath,
          target: z.string().regex(/^\//, "an absolute path in the container"),
          readOnly: z.boolean().default(true),
        }),
      )
      .default([])
      .meta({
        description:
          "Site paths bound into every pilot (HTCondor itself, a scratch area); a missing source is an error, never an empty directory",
      }),
    network: z.string().min(1).optional().meta({
      description:
        "Network mode (NetworkMode), e.g. host when the engine has no bridge; default: the engine's bridge",
    }),
    stopGrace: duration.default(d.DEFAULT_DOCKER_STOP_GRACE),
    concurrency: z.number().int().positive().max(32).default(d.DEFAULT_DOCKER_CONCURRENCY),
    requestTimeout: positiveDuration.default(d.DEFAULT_DOCKER_REQUEST_TIMEOUT),
  })
  .meta({ description: "Pilot containers on Docker hosts (Vac style)" });

export type DockerProviderSettings = z.output<typeof dockerProviderSchema>;
export type DockerHostSettings = z.output<typeof dockerHost>;
