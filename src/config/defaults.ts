/**
 * Every default of condor-autoscaler, in one place. Durations are seconds.
 * A policy file that leaves a field out gets the value here.
 */

// ---- Pool (global file) ----

/** Seconds between ticks: HTCondor's own negotiation cycle is 60 s, so half of it reacts in time. */
export const DEFAULT_TICK_INTERVAL = 30;
/**
 * A tick still running after this long (real time) is abandoned: what it has not done yet is
 * skipped, so a hung cloud or schedd never makes the daemon act on a stale observation. Longer
 * than the HTCondor timeout with its retries plus one provider call's timeout.
 */
export const DEFAULT_TICK_DEADLINE = 300;
/**
 * `persistence: auto` (the default) adapts the wait to the pool (src/policy/adaptive.ts). A number
 * written in the file is honoured as it stands.
 */
export const DEFAULT_PERSISTENCE = "auto";
/**
 * elastiq's persistence window: an idle job counts as demand only after waiting this long, so a
 * job the negotiator is about to match to a slot does not boot a VM. `persistence: auto` still
 * holds a job this long while the busy workers are expected to free up before a new one could
 * boot; the test builders use it as a fixed persistence.
 */
export const CLASSIC_PERSISTENCE = 60;
export const DEFAULT_LOG_LEVEL = "info";
/** The status and metrics endpoint listens on loopback only unless told otherwise. */
export const DEFAULT_STATUS_ADDRESS = "127.0.0.1";
export const DEFAULT_STATUS_PORT = 9464;
/** Provider calls (launch, terminate) running at once per tick. */
export const DEFAULT_ACTION_CONCURRENCY = 4;

// ---- HTCondor ----

/** A condor_q / condor_status call taking longer is killed: a hung schedd must not stall the tick. */
export const DEFAULT_CONDOR_TIMEOUT = 30;
/** Further attempts after a failed or timed-out HTCondor call, before the tick marks a gap. */
export const DEFAULT_CONDOR_RETRIES = 2;
/** Pause before retrying a failed HTCondor call. */
export const CONDOR_RETRY_DELAY = 1;

// ---- Cloud (one file per cloud) ----

/** Clouds with no priority are filled after any that have one. */
export const DEFAULT_PRIORITY = 100;
export const DEFAULT_SHARE = 1;
export const DEFAULT_COST_PER_HOUR = 0;
export const DEFAULT_MIN_WORKERS = 0;
export const DEFAULT_GPUS = 0;
/** Serve every job unless the cloud file narrows it. */
export const DEFAULT_JOB_CONSTRAINT = "true";
/** `idleTimeout: auto` (the default) follows boot times and arrival gaps (src/policy/adaptive.ts). */
export const DEFAULT_IDLE_TIMEOUT = "auto";
/** A fixed idle timeout long enough to catch the next negotiation cycles (the test builders' value). */
export const CLASSIC_IDLE_TIMEOUT = 600;
/** A CernVM VM that has not joined the pool within this time is stuck and is terminated. */
export const DEFAULT_BOOT_TIMEOUT = 900;
/** At most this many workers are asked of one cloud in one tick. */
export const DEFAULT_MAX_LAUNCH_PER_TICK = 10;
/** First backoff after a quota or capacity "no"; doubles per further "no". */
export const DEFAULT_BACKOFF_INITIAL = 60;
/** Backoff never exceeds this. */
export const DEFAULT_BACKOFF_MAX = 1800;
/** First backoff after a transient fault (5xx, network): short, it usually clears quickly. */
export const DEFAULT_BACKOFF_TRANSIENT = 15;

// ---- Schedules (a cloud file's `schedules`) ----

/** The shortest window: cron names minutes, so a window shorter than one could fall between ticks. */
export const SCHEDULE_MIN_WINDOW = 60;
/**
 * The longest window. Whether one is open is found by looking back this far for its last start,
 * so the look-back stays bounded; a setting meant to hold for longer belongs in the file itself.
 */
export const SCHEDULE_MAX_WINDOW = 7 * 86400;
/**
 * How far ahead the next start of a window is looked for (the simulator's quiet-tick skipping
 * wakes at it). Four years and a day, so that a window on 29 February is still found.
 */
export const SCHEDULE_LOOKAHEAD = (4 * 365 + 2) * 86400;
/** Windows one cloud file may list: each is evaluated every tick. */
export const MAX_SCHEDULES = 50;

// ---- Adaptive defaults (`persistence: auto`, `idleTimeout: auto`; src/policy/adaptive.ts) ----

/**
 * A cloud's boot time (launch to joining the pool) before any of its workers has joined: a
 * CernVM VM's usual few minutes. Replaced by the median of the boots observed.
 */
export const AUTO_BOOT_TIME_GUESS = 180;
/** Boot times remembered per cloud; the median of these is the cloud's boot time. */
export const AUTO_BOOT_SAMPLES = 16;
/**
 * Gaps between job arrivals remembered: a few weeks of a busy pool. The buffer's timeout is a
 * high quantile of them, which 256 gaps left resting on a dozen values that jumped with every
 * new gap; on the NASA trace 4096 cut the wasted hours by 4 % and the p95 wait by 1-2 s.
 */
export const AUTO_GAP_SAMPLES = 4096;
/**
 * The warm buffer's idle timeout is the gap between arrivals that this share of recent gaps stays
 * under: its worker is still there for all but the rarest quiet spells.
 */
export const AUTO_GAP_QUANTILE = 0.965;
/**
 * A spare worker taken by a job is launched again only while the last arrival is more recent than
 * this share of recent gaps: deeper into a lull, the next job is less likely to come soon.
 */
export const AUTO_SPARE_GAP_QUANTILE = 0.75;
/** The warm buffer's idle timeout never exceeds this: a night without jobs ends the buffer. */
export const AUTO_IDLE_MAX = 3600;
/**
 * Spare workers (idle or booting) kept while jobs keep arriving. One: on the NASA iPSC trace a
 * buffer of 2, or one sized by the work arriving within a boot, cost more idle hours than the
 * waits it saved.
 */
export const AUTO_BUFFER_WORKERS = 1;
/**
 * A cloud that answered `quota` with n workers is taken to hold n for this long under the
 * adaptive defaults: demand beyond them spills over in the same tick instead of asking again.
 */
export const AUTO_QUOTA_HOLD = 6 * 3600;
/**
 * Free events (a busy worker becoming idle) remembered, to estimate how fast workers free up:
 * enough for a pool that frees 30 workers a minute over AUTO_FREE_WINDOW (64 capped the rate
 * at two frees a minute, and a large pool of short jobs would launch for jobs it was about to
 * run).
 */
export const AUTO_FREE_SAMPLES = 1024;
/** The rate of frees is counted over this much of the recent past. */
export const AUTO_FREE_WINDOW = 1800;

// ---- EC2 ----

/** One EC2 API call taking longer counts as a transient failure. */
export const DEFAULT_EC2_REQUEST_TIMEOUT = 30;
/**
 * Without a launch intent's token (the daemon's ticks always give one), launches with the same
 * parameters inside this window share a ClientToken.
 */
export const EC2_IDEMPOTENCY_WINDOW = 600;
/** TerminateInstances takes at most this many ids per call. */
export const EC2_TERMINATE_BATCH = 1000;

// ---- OpenStack ----

/** Compute API microversion: 2.79 has networks "none"/"auto", tags and the limits we read. */
export const DEFAULT_NOVA_MICROVERSION = "2.79";
/** Servers created at once by one launch. */
export const DEFAULT_OPENSTACK_CONCURRENCY = 4;
/** One OpenStack API call taking longer counts as a transient failure. */
export const DEFAULT_OPENSTACK_REQUEST_TIMEOUT = 30;
/**
 * The largest OpenStack answer read, in bytes: a server listing of 10,000 servers is about 50 MB.
 * Larger is a transient fault of that call, never a daemon out of memory.
 */
export const OPENSTACK_MAX_ANSWER_BYTES = 128 * 1024 * 1024;
/** A Keystone token is renewed this long before it expires. */
export const KEYSTONE_TOKEN_MARGIN = 300;
/** /limits is asked at most this often: quota moves slowly, and every tick would be wasteful. */
export const OPENSTACK_LIMITS_CACHE = 60;
/** Flavor and image lookups (name → id) are kept this long. */
export const OPENSTACK_LOOKUP_CACHE = 600;

// ---- Simulated backends (demo, tests, dry runs) ----

/** Median boot time of a simulated worker, from create call to running instance. */
export const DEFAULT_SIM_BOOT_DELAY = 120;
/** Boot times spread uniformly this far either side of the median. */
export const DEFAULT_SIM_BOOT_SPREAD = 30;
/** Contextualisation: from running instance to startd in the collector. */
export const DEFAULT_SIM_JOIN_DELAY = 30;
/** HTCondor's default NEGOTIATOR_INTERVAL. */
export const DEFAULT_SIM_NEGOTIATION_INTERVAL = 60;
/** How much faster than real time the embedded demo runs. */
export const DEFAULT_DEMO_CLOCK_SPEED = 30;
/**
 * A simulation stops this long after the trace's last submission even if jobs are left (a policy
 * that never serves them would otherwise run forever); they count as never started.
 */
export const SIM_HORIZON_AFTER_TRACE = 30 * 86400;
/** Retry-After of a simulated throttling answer when the scenario does not give one. */
export const DEFAULT_SIM_RETRY_AFTER = 30;

// ---- Daemon loop ----

/**
 * The loop looks this often (seconds) whether a tick is due by the daemon's clock: often enough
 * for any tick interval of at least 1 s and for the demo's accelerated clock.
 */
export const LOOP_POLL_INTERVAL = 1;

// ---- Docker ----

/** Where Docker listens when neither the cloud file nor DOCKER_HOST names a host. */
export const DEFAULT_DOCKER_SOCKET = "unix:///var/run/docker.sock";
/**
 * SIGTERM → SIGKILL grace of a terminated pilot: time for condor_master to stop the startd, which
 * then withdraws its own ads from the collector.
 */
export const DEFAULT_DOCKER_STOP_GRACE = 10;
/** One Docker Engine API call taking longer counts as a transient failure of that host. */
export const DEFAULT_DOCKER_REQUEST_TIMEOUT = 30;
/** Containers created and started at once by one launch. */
export const DEFAULT_DOCKER_CONCURRENCY = 4;
/**
 * A cloud whose listing failed is planned with the workers it listed last, for at most this long:
 * they are still there as far as anyone knows, and counting them as zero would launch them again
 * elsewhere. Older than this, they count as nothing (and launches elsewhere may double up).
 */
export const LAST_SEEN_HOLD = 600;
/**
 * An instance launched and not listed yet (EC2 and Nova listings lag a new instance) counts as
 * booting for at most this long, so that the next tick does not launch for the same jobs again.
 */
export const LAUNCH_LISTING_GRACE = 300;
/**
 * Ads of this many of our workers (and at least half of those that had ads a tick earlier)
 * vanishing at once is a collector gap (a restart), not a fact about the workers: no idle or
 * stuck termination until half of the joined workers show ads again, or for at most
 * COLLECTOR_SUSPECT_HOLD seconds.
 */
export const MASS_DISAPPEARANCE_MIN = 2;
/**
 * A collector up for less than this has not heard from every startd yet (they send their ads
 * every UPDATE_INTERVAL, 300 s by default): its answer is a gap for idle and stuck terminations.
 */
export const COLLECTOR_WARMUP = 600;
/** Connections the status endpoint holds at once; more are refused until some close. */
export const STATUS_MAX_CONNECTIONS = 64;
/** A status client that has not sent its request, or idles, this long (seconds) is dropped. */
export const STATUS_CLIENT_TIMEOUT = 10;
/** A policy file, template or token file larger than this is refused: none needs 1 MB. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;
/** The largest answer of an HTCondor tool read (MB): 100k slot ads are about 60 MB. */
export const DEFAULT_CONDOR_MAX_OUTPUT_MB = 256;
export const COLLECTOR_SUSPECT_HOLD = 600;
/** A cloud whose listing answers `auth` this many ticks in a row is disabled until a reload. */
export const DEFAULT_AUTH_FAILURES_TO_DISABLE = 3;
/** /healthz fails while any source (queue, collector, a cloud's listing) has failed this long. */
export const DEFAULT_SOURCE_STALE_AFTER = 600;

/**
 * A container still `created` this long after its creation will never start (the daemon died
 * between create and start, or the start failed): it is failed, not booting capacity.
 */
export const DOCKER_NEVER_STARTED = 120;
/** A host's CPUs and memory (GET /info) are asked again after this long: they rarely change. */
export const DOCKER_HOST_INFO_CACHE = 600;
/**
 * list() and headroom() run together each tick and need the same container listing: one listing
 * younger than this serves both (a launch or terminate drops it).
 */
export const DOCKER_SURVEY_REUSE = 2;
/** A container name already taken (409) is retried with a new random suffix this many times. */
export const DOCKER_NAME_ATTEMPTS = 3;
/** Per-container directories (user_data, joboutputs) on the head node, shared with local hosts. */
export const DEFAULT_DOCKER_WORK_DIR = "/var/lib/condor-autoscaler/docker";

// ---- Preflight (`check`, and `run` at start) ----

/** A preflight check with no answer after this long (seconds) fails as a timeout. */
export const PREFLIGHT_CHECK_TIMEOUT = 60;

// ---- Status and metrics ----

/**
 * /healthz fails once the last complete tick is older than this many tick intervals plus the tick
 * deadline; a daemon that has completed no tick yet is given as long from its start.
 */
export const HEALTH_STALE_TICKS = 3;
/** `condor-autoscaler status` gives up on a daemon that has not answered within this time. */
export const STATUS_REQUEST_TIMEOUT = 5;
/** Buckets (seconds) of the tick duration histogram: from a quick tick to one held up by timeouts. */
export const TICK_DURATION_BUCKETS: readonly number[] = [
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

// ---- Simulator baselines ----
// elastiq (https://github.com/dberzano/elastiq), the classic baseline, with the defaults built
// into its daemon (pylib/elastiq/__init__.py, `cf['elastiq']`, releases 0.9.x to 1.0.1). Its
// sample file elastiq/etc/elastiq.conf.example sets a threshold of 10 jobs and 100 s instead.
// Its quota (min_vms 0, max_vms 3) is not copied: the baseline takes each cloud's minWorkers and
// maxWorkers, as our planner does.

/** elastiq's n_jobs_per_vm: how many waiting jobs one new VM is expected to take. */
export const ELASTIQ_JOBS_PER_VM = 4;
/** elastiq's waiting_jobs_threshold: VMs are asked for only when more jobs than this wait. */
export const ELASTIQ_WAITING_JOBS_THRESHOLD = 0;
/** elastiq's waiting_jobs_time_s: how long the queue must stay above the threshold. */
export const ELASTIQ_WAITING_JOBS_TIME = 40;
/**
 * elastiq's estimated_vm_deploy_time_s: a new VM counts as capacity on its way for this long, and
 * one that has not joined the pool by then is terminated.
 */
export const ELASTIQ_DEPLOY_TIME = 600;
/** elastiq's idle_for_time_s: a VM running no job for longer is shut down. */
export const ELASTIQ_IDLE_TIME = 3600;
/**
 * Seed of the baseline's own random numbers (elastiq shuffles the idle VMs it shuts down) when
 * the caller passes none, so that two runs of one trace decide alike.
 */
export const BASELINE_DEFAULT_SEED = 1;
