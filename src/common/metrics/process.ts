import type { Registry } from "./registry.ts";

/**
 * What every dt server reports about itself: its version (a gauge of 1, the
 * Prometheus convention for facts) and the process's start time and memory
 * under the names Prometheus's own client libraries use, so existing
 * uptime and memory panels work unchanged.
 *
 * @example
 *   processMetrics(registry, VERSION);
 *   // PromQL: time() - process_start_time_seconds{job="dt-master"}
 */
export function processMetrics(registry: Registry, version: string): void {
  registry.gauge({ name: "dt_build_info", help: "Always 1; the version of dt this process runs.", labelNames: ["version"] }).with({ version }).set(1);
  // performance.timeOrigin is when this process started, in epoch ms.
  registry.gauge({ name: "process_start_time_seconds", help: "Start time of the process since the Unix epoch, in seconds." }).set(Math.round(performance.timeOrigin) / 1000);
  registry.gauge({ name: "process_resident_memory_bytes", help: "Resident memory of the process, in bytes.", collect: () => [{ value: process.memoryUsage.rss() }] });
}
