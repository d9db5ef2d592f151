/**
 * The most recently used entries of a map, bounded by their count and by
 * the sum of their sizes (rows, names): the least recently used go first,
 * but the newest stays however big, so one huge job is still kept.
 */
export class SizedLru<V> {
  private readonly entries = new Map<string, { value: V; size: number }>();
  private total = 0;

  constructor(private readonly limits: { entries: number; size: number }) {}

  /** The sum of the kept entries' sizes. */
  get size(): number {
    return this.total;
  }

  /** The value, now the most recently used. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, size: number): void {
    const old = this.entries.get(key);
    if (old) this.total -= old.size;
    this.entries.delete(key);
    this.entries.set(key, { value, size });
    this.total += size;
    while ((this.entries.size > this.limits.entries || this.total > this.limits.size) && this.entries.size > 1) {
      const [oldest, dropped] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.total -= dropped.size;
    }
  }
}
