import { opendir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type CodeqlProblem, type CodeqlQueryHelp, type CweEntry, readCodeqlHelp } from '@rescue/datasets';
import type { CweId, FixRecord } from '@rescue/domain';
import type { KnowledgeDocument } from '../kb-model';
import { catalogKnowledge } from './catalog-records';
import { type CodeqlPairProblem, type FunctionSplitter, type VulnerableExample, codeqlFixPairs } from './codeql-records';
import { codeqlDocuments, descriptionDocuments } from './knowledge-documents';

/** Whether a folder holds a CodeQL checkout's query help (a `.qhelp` file anywhere under it). */
async function holdsQueryHelp(dir: string): Promise<boolean> {
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop() as string;
    for await (const entry of await opendir(current)) {
      if (entry.isFile() && entry.name.endsWith('.qhelp')) return true;
      if (entry.isDirectory() && entry.name !== 'node_modules' && entry.name !== '.git') pending.push(join(current, entry.name));
    }
  }
  return false;
}

/**
 * Splits `--source` paths into fix-pair datasets (JSONL files and folders of them) and CodeQL
 * checkouts (folders with `.qhelp` files), so a CodeQL tree's `.json` samples are never read as
 * fix pairs. A path that cannot be read stays a fix-pair source: the ingest reports it.
 */
export async function splitSources(paths: string[]): Promise<{ fixPairSources: string[]; codeqlRoots: string[] }> {
  const fixPairSources: string[] = [];
  const codeqlRoots: string[] = [];
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = (await stat(p)).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (isDir && (await holdsQueryHelp(p))) codeqlRoots.push(p);
    else fixPairSources.push(p);
  }
  return { fixPairSources, codeqlRoots };
}

/** A source problem of the knowledge readers, with its place. */
export interface KnowledgeProblem {
  file: string;
  line?: number;
  message: string;
}

export interface ExtraKnowledge {
  /** Fix records from CodeQL's examples and the catalogue's demonstrative examples. */
  records: FixRecord[];
  vulnerableOnly: VulnerableExample[];
  helps: CodeqlQueryHelp[];
  problems: KnowledgeProblem[];
}

/**
 * The knowledge beyond fix-pair datasets: CodeQL checkouts (query help, paired examples) and the
 * catalogue's demonstrative examples. Deterministic: sorted inputs, content ids.
 */
export async function readExtraKnowledge(input: { codeqlRoots: string[]; catalog: Map<CweId, CweEntry>; catalogPath?: string; splitter: FunctionSplitter }): Promise<ExtraKnowledge> {
  const problems: KnowledgeProblem[] = [];
  const helps: CodeqlQueryHelp[] = [];
  const records: FixRecord[] = [];
  const vulnerableOnly: VulnerableExample[] = [];
  for (const root of [...input.codeqlRoots].sort()) {
    const read = await readCodeqlHelp(root, (p: CodeqlProblem) => problems.push({ file: join(root, p.file), line: p.line, message: p.message }));
    helps.push(...read);
    const pairs = await codeqlFixPairs(read, input.splitter);
    records.push(...pairs.records);
    vulnerableOnly.push(...pairs.vulnerableOnly);
    problems.push(...pairs.problems.map((p: CodeqlPairProblem) => ({ file: join(root, p.file), line: p.line, message: p.message })));
  }
  if (input.catalog.size > 0) {
    // The examples are named by the catalogue's file name (cwec_v4.14.xml.zip#CWE-89/DX-1), not by
    // the path as typed: the file name says which MITRE release it is, and a KB's version id must
    // not change with how the path is spelled (`../shared/…` or `/work/shared/…`).
    const fromCatalog = catalogKnowledge(input.catalog, input.catalogPath ? basename(input.catalogPath) : 'catalogue');
    records.push(...fromCatalog.records);
    vulnerableOnly.push(...fromCatalog.vulnerableOnly);
  }
  return { records, vulnerableOnly, helps, problems };
}

/** The documents that do not depend on the clusters: CodeQL help, and the descriptions of queries and catalogue examples. */
export function sourceDocuments(extra: ExtraKnowledge, catalog: Map<CweId, CweEntry>): KnowledgeDocument[] {
  return [...codeqlDocuments(extra.helps), ...descriptionDocuments({ examples: [], helps: extra.helps, catalog })];
}
