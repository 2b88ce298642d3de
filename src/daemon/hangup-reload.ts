/**
 * SIGHUP (systemctl reload): a valid config directory takes effect at the next tick; an invalid
 * one is rejected with its file:line problems and the running configuration stays. Reloads run
 * one after another, never two at once.
 */
import type Logger from "bunyan";
import type { Backends } from "../backends.js";
import { loadConfig } from "../config/load.js";
import { poolPolicy } from "../config/policies.js";
import type { AutoscalerConfig } from "../config/schema.js";
import { ConfigError } from "../model/errors.js";
import { reloadBackends } from "../reload.js";
import type { Daemon } from "./daemon.js";
import type { StatusTracker } from "./status.js";

export interface HangupReloadOptions {
  configDir: string;
  dryRun: boolean;
  daemon: Daemon;
  status: StatusTracker;
  log: Logger;
}

export class HangupReload {
  private reloading = Promise.resolve();
  private readonly onHangup = () => {
    this.reloading = this.reloading.then(() => this.reload());
  };

  constructor(
    private running: { config: AutoscalerConfig; backends: Backends },
    private readonly options: HangupReloadOptions,
  ) {}

  listen(): void {
    process.on("SIGHUP", this.onHangup);
  }

  /** Stops listening; resolves once a reload under way has finished. */
  async close(): Promise<void> {
    process.off("SIGHUP", this.onHangup);
    await this.reloading;
  }

  private async reload(): Promise<void> {
    const { configDir, dryRun, daemon, status, log } = this.options;
    log.info({ signal: "SIGHUP", config: configDir }, `SIGHUP: reloading ${configDir}`);
    let next: AutoscalerConfig;
    try {
      next = await loadConfig(configDir);
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : [];
      log.error(
        { problems },
        `reload rejected, the running configuration stays: ${error instanceof Error ? error.message : String(error)}`,
      );
      return;
    }
    let nextBackends: Backends;
    try {
      nextBackends = await reloadBackends(this.running, next, log, { readOnly: dryRun });
    } catch (error) {
      log.error(
        `reload rejected, the running configuration stays: ${error instanceof Error ? error.message : String(error)}`,
      );
      return;
    }
    this.running = { config: next, backends: nextBackends };
    status.retime(next.global.tickInterval, next.global.tickDeadline);
    daemon.reload({
      policy: poolPolicy(next),
      sources: nextBackends,
      tickInterval: next.global.tickInterval,
      tickDeadline: next.global.tickDeadline,
    });
    log.info(
      { clouds: next.clouds.map((c) => c.name) },
      "reload accepted: it takes effect at the next tick (logging and status settings need a restart)",
    );
  }
}
