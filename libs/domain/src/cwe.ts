/** A canonical CWE id: `CWE-` followed by the number without leading zeros (`CWE-89`). */
export type CweId = `CWE-${number}`;

const CWE_PATTERN = /^(?:cwe[\s_-]*)?0*([1-9][0-9]{0,5})$/i;

/**
 * Accepts the spellings found in fix datasets and user files (`cwe-089`, `CWE_89`, `CWE 89`, `89`,
 * the number 89) and returns the canonical id, or undefined when the value is not a CWE id.
 */
export function parseCweId(value: unknown): CweId | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value > 0 && value < 1_000_000 ? `CWE-${value}` : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const match = CWE_PATTERN.exec(value.trim());
  return match ? `CWE-${Number(match[1])}` : undefined;
}

export function cweNumber(id: CweId): number {
  return Number(id.slice(4));
}
