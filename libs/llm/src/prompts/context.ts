import { z } from 'zod';
import { oneLine } from './quote';

/** What a group of examples has in common; every field optional. */
export const weaknessContext = z.object({
  /** e.g. `CWE-89`. */
  cwe: z.string().max(40).optional(),
  /** e.g. `Improper Neutralization of Special Elements used in an SQL Command`. */
  cweName: z.string().max(300).optional(),
  /** e.g. `python`. */
  language: z.string().max(40).optional(),
});

/** The common context of a group of examples. */
export type WeaknessContext = z.output<typeof weaknessContext>;

/** "CWE-89 (SQL Injection) in python code", degrading gracefully when parts are missing. */
export function describeWeakness(c: WeaknessContext, fallback: string): string {
  const weakness = c.cwe ? `${oneLine(c.cwe, 40)}${c.cweName ? ` (${oneLine(c.cweName)})` : ''}` : fallback;
  return `${weakness}${c.language ? ` in ${oneLine(c.language, 40)} code` : ''}`;
}
