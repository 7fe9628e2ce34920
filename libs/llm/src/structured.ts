import { z } from 'zod';
import { InvalidInputError, type JsonValue } from '@rescue/domain';
import { type LlmCallSite, LlmInvalidOutputError } from './errors';
import type { Llm, LlmStructuredResult, StructuredCallOptions } from './llm';
import { type ChatMessage, type PromptTemplate, templateRef } from './prompts/template';

// Structured calls, shared by the client (what it sends, how it checks the answer) and the cache
// decorator (what identifies a call, whether a cached answer still passes the check), so both
// derive them the same way.

/** What a JSON schema sent with `json_schema` mode may be named (OpenAI's rule). */
export const SCHEMA_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The JSON Schema the model must produce: zod's *input* side, since that is what `safeParse`
 * accepts. `$schema` is dropped because some servers reject unknown top-level keywords.
 */
export function toJsonSchema(schema: z.ZodType): { [key: string]: JsonValue } {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { [key: string]: JsonValue };
  return rest;
}

/**
 * The messages a structured call sends. json_object mode carries no schema on the wire, so the model
 * reads it from the prompt (OpenAI also insists that the word "JSON" appears in the messages in this mode).
 */
export function structuredMessages(messages: readonly ChatMessage[], jsonSchema: { [key: string]: JsonValue }, mode: 'json_schema' | 'json_object'): ChatMessage[] {
  return mode === 'json_object' ? [{ role: 'system', content: `Reply with one JSON object that conforms to this JSON Schema:\n${JSON.stringify(jsonSchema)}` }, ...messages] : [...messages];
}

/**
 * The value of a structured answer.
 * @throws LlmInvalidOutputError when the text is not JSON or breaks the schema; `redact` scrubs model text quoted in the message.
 */
export function parseStructured<T>(text: string, schema: z.ZodType<T>, site: LlmCallSite, redact: (text: string) => string): T {
  let json: unknown;
  try {
    json = JSON.parse(stripJsonFence(text));
  } catch (err) {
    // V8's message quotes the start of the text, which is model output.
    const why = redact(err instanceof Error ? err.message : String(err));
    throw new LlmInvalidOutputError(`answer of ${site.model} (${site.role}) is not JSON: ${why}`, site, 'json');
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issues = formatIssues(result.error).map(redact);
    throw new LlmInvalidOutputError(`answer of ${site.model} (${site.role}) does not match the schema: ${issues.slice(0, 5).join('; ')}`, site, 'schema', issues);
  }
  return result.data;
}

/** Some servers wrap JSON in a markdown fence even in JSON mode; accept exactly that and nothing looser. */
function stripJsonFence(text: string): string {
  const m = /^\s*```(?:json)?\s*\n([\s\S]*?)\n\s*```\s*$/i.exec(text);
  return m ? m[1] : text;
}

function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/**
 * {@link Llm.run} on any implementation: validates the input, renders the template and runs it as
 * a structured call on `llm` itself, so a decorator's `structured` is the one used.
 */
export async function runTemplate<I, O>(llm: Llm, template: PromptTemplate<I, O>, input: I, options: Omit<StructuredCallOptions, 'template' | 'schemaName'> = {}): Promise<LlmStructuredResult<O>> {
  const parsed = template.input.safeParse(input);
  if (!parsed.success) {
    throw new InvalidInputError(`input of prompt template ${templateRef(template)} is invalid: ${formatIssues(parsed.error).join('; ')}`);
  }
  const messages = template.render(parsed.data);
  return llm.structured(template.role, messages, template.output, {
    ...options,
    template: { id: template.id, version: template.version },
    schemaName: template.id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64),
  });
}
