import type { JsonItems } from './build-cache/json-pieces';
import type { CodeExample } from './kb-model';
import { SpilledTexts } from './spilled-texts';

/**
 * A cluster's examples as their JSON, kept in a file while the cluster is summarized (see
 * SpilledTexts), with only their ids in memory: the summarize stage's way to hand a big cluster to
 * the summary cache and the staging without holding its examples (at 100× the shared data the
 * biggest cluster's were several hundred MB). Add every example, then `seal`, then read them back
 * in the order they were added (`inOrder`) or by id (`byId`); `remove` deletes the file.
 */
export class ExampleSpool {
  private readonly ids: string[] = [];

  private constructor(private readonly texts: SpilledTexts) {}

  /** A new, empty spool in `dir` (made when missing). */
  static async create(dir: string): Promise<ExampleSpool> {
    return new ExampleSpool(await SpilledTexts.create(dir));
  }

  get count(): number {
    return this.ids.length;
  }

  async add(example: CodeExample): Promise<void> {
    this.ids.push(example.id);
    await this.texts.add(JSON.stringify(example));
  }

  async seal(): Promise<void> {
    await this.texts.seal();
  }

  /** The examples' JSON in the order they were added. */
  inOrder(): JsonItems {
    return { count: this.ids.length, json: (i) => this.texts.get(i) };
  }

  /**
   * The examples' JSON sorted by id (as `[...examples].sort` by id orders them: stable, so
   * examples of the same id keep the order they were added in).
   */
  byId(): JsonItems {
    const order = this.ids.map((_, i) => i).sort((a, b) => (this.ids[a] < this.ids[b] ? -1 : this.ids[a] > this.ids[b] ? 1 : 0));
    return { count: order.length, json: (i) => this.texts.get(order[i]) };
  }

  async remove(): Promise<void> {
    await this.texts.remove();
  }
}
