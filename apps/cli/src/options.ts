import { InvalidInputError } from '@rescue/domain';
/** A whole-number option in [min, max], or an error naming the option, the range and the value given. */
export function intOption(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidInputError(`${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return n;
}
