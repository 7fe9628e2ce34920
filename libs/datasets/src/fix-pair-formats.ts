import { z } from 'zod';
import type { DatasetFormat } from '@rescue/domain';

const lineChange = z.object({
  line_no: z.number().int().min(1),
  char_start: z.number().int().min(0).optional(),
  char_end: z.number().int().min(0).optional(),
  line: z.string().optional(),
});

/**
 * SVEN's record (and SafeCoder's, which adds the natural-language fields). Unknown fields such as
 * `char_changes` are ignored. `line_changes` is null in some records: changed lines then come
 * from a diff of the two functions.
 */
export const svenRecordSchema = z.object({
  func_name: z.string().optional(),
  func_src_before: z.string(),
  func_src_after: z.string(),
  vul_type: z.union([z.string(), z.number()]),
  file_name: z.string(),
  commit_link: z.string().optional(),
  line_changes: z
    .object({ deleted: z.array(lineChange), added: z.array(lineChange) })
    .nullable()
    .optional(),
  description: z.string().optional(),
  commit_msg: z.string().optional(),
  parent_commit: z.string().optional(),
});
export type SvenRecord = z.infer<typeof svenRecordSchema>;

/**
 * The generic fix-pair schema for users' own data (docs/generic-fix-pair-format.md). `language`
 * may be omitted when `file_name` has a known extension.
 */
export const genericRecordSchema = z.object({
  language: z.string().optional(),
  cwe: z.union([z.string(), z.number()]),
  before: z.string(),
  after: z.string(),
  changed_lines: z.object({ deleted: z.array(z.number().int().min(1)), added: z.array(z.number().int().min(1)) }).optional(),
  file_name: z.string().optional(),
  function_name: z.string().optional(),
  description: z.string().optional(),
  commit_message: z.string().optional(),
  source_url: z.string().optional(),
});
export type GenericRecord = z.infer<typeof genericRecordSchema>;

/** The format a parsed line looks like, or undefined when it matches none. */
export function detectFormat(value: Record<string, unknown>): DatasetFormat | undefined {
  if ('func_src_before' in value || 'func_src_after' in value) {
    return 'description' in value || 'commit_msg' in value || 'parent_commit' in value ? 'safecoder' : 'sven';
  }
  if ('before' in value || 'after' in value) return 'generic';
  return undefined;
}
