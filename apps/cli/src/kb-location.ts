import type * as Config from '@rescue/config';
import type * as LlmLib from '@rescue/llm';
// The module, not the library's index (which loads the build: ingestors, LLM distiller, zod): every
// `rescue retrieve` loads this file.
import { type OpenOptions, type OpenedKb, llmEmbedderFor, openKnowledgeBaseAt } from '@rescue/knowledge/kb-retriever';
import type { Command } from 'commander';

export interface KbOptions {
  kb: string;
  es?: string;
  esPrefix: string;
}

/** `--kb <dir|url>`, `--es <url>` and `--es-prefix`: where a command's KB lives and where it is searched. */
export function addKbOptions(command: Command): Command {
  return command
    .option('--kb <dir|url>', 'KB folder, or an Elasticsearch URL serving a KB published by `kb build --es`', 'rescue-kb')
    .option('--es <url>', 'with a KB folder: run the searches on Elasticsearch (the same version, published by `kb build --es`)')
    .option('--es-prefix <prefix>', 'Elasticsearch index and alias prefix', 'rescue');
}

export const isUrl = (kb: string): boolean => /^https?:\/\//i.test(kb);

/**
 * Opens the KB the options name: served by Elasticsearch alone (`--kb http…`), a folder searched
 * on Elasticsearch (`--kb dir --es url`), or a folder on its own (LanceDB).
 */
export function openKb(opts: KbOptions, options: OpenOptions = {}): Promise<OpenedKb> {
  const location = isUrl(opts.kb) ? { elasticsearchUrl: opts.kb } : { dir: opts.kb, elasticsearchUrl: opts.es };
  // A KB built with `--embedder llm` is queried through the same endpoint (configured only then).
  // The settings and the client are loaded only then too: for a KB embedded locally, their zod
  // schemas and the LLM library were a tenth of a `rescue retrieve`.
  const embedderFor: OpenOptions['embedderFor'] = (description) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { llmEnv, loadConfig } = require('@rescue/config') as typeof Config;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { llmFromEnv } = require('@rescue/llm') as typeof LlmLib;
    return llmEmbedderFor(llmFromEnv(loadConfig(llmEnv)))?.(description);
  };
  return openKnowledgeBaseAt({ ...location, elasticsearchPrefix: opts.esPrefix }, { embedderFor, ...options });
}
