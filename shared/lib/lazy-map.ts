/**
 * A Map that allocates its table on the first `set`. A node keeps several maps that stay empty
 * on most nodes for their whole life (held mail, tombstones, held records, dial backoff), and an
 * empty Map still costs V8 about 180 bytes: at 10,000 simulated nodes that was 6% of the heap.
 * Only the part of the Map interface the engine uses is here. One difference from Map: a loop
 * that began while the map was empty does not see entries set during it.
 */
export class LazyMap<K, V> implements Iterable<[K, V]> {
  private map: Map<K, V> | null = null;

  get size(): number {
    return this.map === null ? 0 : this.map.size;
  }

  get(key: K): V | undefined {
    return this.map === null ? undefined : this.map.get(key);
  }

  has(key: K): boolean {
    return this.map !== null && this.map.has(key);
  }

  set(key: K, value: V): this {
    (this.map ??= new Map()).set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.map !== null && this.map.delete(key);
  }

  keys(): IterableIterator<K> {
    return (this.map ?? EMPTY).keys() as IterableIterator<K>;
  }

  values(): IterableIterator<V> {
    return (this.map ?? EMPTY).values() as IterableIterator<V>;
  }

  entries(): IterableIterator<[K, V]> {
    return (this.map ?? EMPTY).entries() as IterableIterator<[K, V]>;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}

const EMPTY: ReadonlyMap<unknown, unknown> = new Map<unknown, unknown>();
