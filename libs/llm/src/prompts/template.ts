import type { z } from 'zod';
import type { TextRole } from '../config';

/** One chat message, independent of the SDK's types. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * A prompt as versioned code (style.md C18). The version is part of every cache key and of the
 * KB's provenance, so bump it whenever `render` or `output` changes what the model is asked or
 * what is accepted; an unbumped edit would serve answers to the old prompt from the cache.
 */
export interface PromptTemplate<I, O> {
  /** Stable kebab-case name, e.g. `guideline-extract`. */
  readonly id: string;
  /** Positive integer, bumped on every change of meaning. */
  readonly version: number;
  /** The model role that runs it. */
  readonly role: TextRole;
  /** One line on what it does, for docs and dashboards. */
  readonly description: string;
  /** Validates the input before rendering (the input is often dataset text). */
  readonly input: z.ZodType<I>;
  /** Validates the model's JSON answer. */
  readonly output: z.ZodType<O>;
  /** Builds the messages. Pure: equal input gives equal messages. */
  render(input: I): ChatMessage[];
}

/** `id@vN`: how a template is named in cache keys and in KB provenance. */
export function templateRef(template: { id: string; version: number }): string {
  return `${template.id}@v${template.version}`;
}

/** The input type of a template. */
export type TemplateInput<T> = T extends PromptTemplate<infer I, unknown> ? I : never;

/** The output type of a template. */
export type TemplateOutput<T> = T extends PromptTemplate<unknown, infer O> ? O : never;
