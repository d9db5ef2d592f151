/** Named samples collected over the runs, correctness checks, and the statistics the report takes from them. */

export class Samples {
  private readonly byName = new Map<string, number[]>();
  readonly failures: string[] = [];

  record(name: string, value: number): void {
    if (!Number.isFinite(value)) throw new Error(`sample ${name} is ${value}`);
    this.byName.set(name, [...(this.byName.get(name) ?? []), value]);
  }

  get(name: string): number[] {
    return this.byName.get(name) ?? [];
  }

  /** Every name recorded, in the order first recorded. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Records a correctness check; the bench exits non-zero if any failed. */
  check(ok: boolean, message: string): void {
    if (!ok) {
      this.failures.push(message);
      console.error(`bench: CHECK FAILED: ${message}`);
    }
  }
}

/** Nearest-rank percentile (p in 0–100) of unsorted values: p99 of 100 values is the 99th smallest. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}
