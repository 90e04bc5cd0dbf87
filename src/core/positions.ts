// A set of log positions whose size follows the runs in it, not the positions: erasure records list
// positions mostly in ascending runs (retention erases a log's oldest events first, a call erases its
// selection in log order), and an audit meets erased events in log order. Ten million erased positions
// in one run take two numbers here, where a Set<number> takes hundreds of megabytes.

/**
 * Positions (whole numbers from 0) kept as ascending runs [start, end), each added position that extends
 * or follows the last run extending it or starting a new one, and the positions added below the last
 * run's end apart. `add` is O(log runs), `has` O(log runs); memory O(runs + positions added out of order).
 */
export class PositionSet {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly behind = new Set<number>();
  private count = 0;

  /** The positions in the set. */
  get size(): number {
    return this.count;
  }

  /** Runs kept (a measure of the memory held, for tests and figures). */
  get runs(): number {
    return this.starts.length;
  }

  add(position: number): this {
    const last = this.ends.length - 1;
    if (last >= 0 && position === this.ends[last]) this.ends[last]++;
    else if (last < 0 || position > this.ends[last]!) {
      this.starts.push(position);
      this.ends.push(position + 1);
    } else if (this.has(position)) return this;
    else this.behind.add(position);
    this.count++;
    return this;
  }

  has(position: number): boolean {
    // The last run starting at or before `position`.
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! <= position) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi >= 0 && position < this.ends[hi]!) return true;
    return this.behind.size > 0 && this.behind.has(position);
  }

  /** The lowest position, or undefined when the set is empty. */
  lowest(): number | undefined {
    let low = this.starts.length > 0 ? this.starts[0] : undefined;
    for (const p of this.behind) if (low === undefined || p < low) low = p;
    return low;
  }

  /** Every position, the runs' in ascending order, then those added out of order in the order added. */
  *[Symbol.iterator](): IterableIterator<number> {
    for (let r = 0; r < this.starts.length; r++) for (let p = this.starts[r]!; p < this.ends[r]!; p++) yield p;
    yield* this.behind;
  }
}
