import { createHash } from 'node:crypto';

/** Points per shard: enough that two or three shards split channels within a few percent. */
const VIRTUAL_NODES = 160;

function hash32(text: string): number {
  return createHash('md5').update(text).digest().readUInt32BE(0);
}

/**
 * Consistent hashing of channels over shards. Every node that lists the same shards picks the
 * same shard for a channel (the ring depends on the shard names only, not their order), and
 * adding a shard moves only about 1/n of the channels.
 */
export class HashRing<T> {
  private readonly points: number[] = [];
  private readonly owners: T[] = [];

  constructor(shards: ReadonlyArray<{ readonly name: string; readonly value: T }>) {
    if (shards.length === 0) throw new Error('a hash ring needs at least one shard');
    const points: Array<{ point: number; name: string; value: T }> = [];
    for (const { name, value } of shards) {
      for (let i = 0; i < VIRTUAL_NODES; i++) points.push({ point: hash32(`${name}#${i}`), name, value });
    }
    // Ties (two shards on one point) are broken by name, so the order of `shards` never matters.
    points.sort((a, b) => a.point - b.point || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { point, value } of points) {
      this.points.push(point);
      this.owners.push(value);
    }
  }

  /** The shard owning `key`: the first point clockwise from the key's hash. */
  get(key: string): T {
    const h = hash32(key);
    let low = 0;
    let high = this.points.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.points[mid]! < h) low = mid + 1;
      else high = mid;
    }
    return this.owners[low === this.points.length ? 0 : low]!;
  }
}
