import type { CodeqlQueryHelp, CweEntry } from '@rescue/datasets';
import type { CweId } from '@rescue/domain';
import { type CodeExample, type KnowledgeDocument, isDatasetExample } from '../kb-model';

/*
 * Documents are the prose retrieval searches beside the catalogue: each CodeQL query's help (what
 * the weakness looks like in one language and what to do), and short functional descriptions of
 * code that had a weakness ("the function reads a file named in the request"), which match how a
 * task describes what it wants. Ids are stable: built from the source's own identity.
 */

/** One document per CodeQL query: name, description, overview, recommendation and example prose. */
export function codeqlDocuments(helps: CodeqlQueryHelp[]): KnowledgeDocument[] {
  return helps.map((h) => ({
    id: `codeql:${h.queryId}`,
    kind: 'codeql-help',
    cwes: h.cwes,
    language: h.language,
    title: h.name,
    text: [h.name, h.description, h.overview, h.recommendation, h.exampleProse].filter(Boolean).join('\n'),
    guidance: h.recommendation || undefined,
    source: h.helpPath,
  }));
}

/**
 * Functional descriptions: a dataset fix's description and commit subject, a CodeQL query's name and
 * description, a catalogue example's introduction. One document per source item that has one.
 */
export function descriptionDocuments(input: { examples: CodeExample[]; helps: CodeqlQueryHelp[]; catalog: Map<CweId, CweEntry> }): KnowledgeDocument[] {
  const docs: KnowledgeDocument[] = [];
  for (const e of input.examples) {
    if (e.kind === 'vulnerable' || !isDatasetExample(e)) continue;
    const text = [e.description ?? '', e.commitSubject ?? ''].filter((t) => t.trim()).join('\n');
    if (text) docs.push({ id: `record:${e.recordId}`, kind: 'description', cwes: [e.cwe], language: e.language, title: e.recordId, text, source: e.sourceUrl ?? e.recordId });
  }
  for (const h of input.helps) {
    docs.push({ id: `codeql-name:${h.queryId}`, kind: 'description', cwes: h.cwes, language: h.language, title: h.name, text: `${h.name}\n${h.description}`, source: h.helpPath });
  }
  for (const entry of input.catalog.values()) {
    (entry.demonstrativeExamples ?? []).forEach((example, i) => {
      if (example.prose.length === 0) return;
      docs.push({
        id: `catalog:${entry.id}/${example.id ?? i + 1}`,
        kind: 'description',
        cwes: [entry.id],
        title: `${entry.id} example ${example.id ?? i + 1}`,
        text: example.prose[0],
        source: `${entry.id}/${example.id ?? i + 1}`,
      });
    });
  }
  return docs;
}
