import type { Command } from 'commander';
import { InvalidInputError, NotFoundError, parseCweId } from '@rescue/domain';
import { KbDirectory, KbIntegrityError } from '@rescue/knowledge';

export function registerKbInspect(kb: Command): void {
  kb.command('list')
    .description('List the published KB versions, newest first (* marks the one serving)')
    .option('--kb <dir>', 'KB directory', 'rescue-kb')
    .option('--json', 'print JSON')
    .action(async (opts: { kb: string; json?: boolean }) => {
      const dir = new KbDirectory(opts.kb);
      const [versions, current] = await Promise.all([dir.list(), dir.current()]);
      if (opts.json) return void process.stdout.write(`${JSON.stringify({ current, versions }, null, 2)}\n`);
      if (versions.length === 0) return void process.stdout.write(`No KB versions in ${opts.kb}: run "rescue kb build".\n`);
      for (const v of versions) {
        process.stdout.write(`${v.version === current ? '*' : ' '} ${v.version}  ${v.createdAt}  ${v.counts.nodes} nodes, ${v.counts.examples} examples, ${v.distillation.mode}\n`);
      }
    });

  kb.command('stats')
    .description('Counts of the serving KB version, per language and CWE (checked against its checksums first)')
    .option('--kb <dir>', 'KB directory', 'rescue-kb')
    .option('--json', 'print JSON')
    .action(async (opts: { kb: string; json?: boolean }) => {
      const dir = new KbDirectory(opts.kb);
      // Counts read from a damaged version would call it healthy: the checksums speak first.
      const verification = await dir.verify();
      if (!verification.ok) throw new KbIntegrityError(verification);
      const manifest = await dir.manifest();
      const nodes = await dir.nodes();
      const byLanguage: Record<string, number> = {};
      for (const n of nodes) byLanguage[n.language ?? 'any'] = (byLanguage[n.language ?? 'any'] ?? 0) + 1;
      const stats = {
        ...manifest,
        integrity: { verified: true, files: verification.files, bytes: verification.bytes },
        nodesByLanguage: byLanguage,
        cwes: new Set(nodes.map((n) => n.cwe)).size,
        guidelines: nodes.reduce((s, n) => s + n.guidelines.length, 0),
      };
      if (opts.json) return void process.stdout.write(`${JSON.stringify(stats, null, 2)}\n`);
      process.stdout.write(
        [
          `KB ${manifest.version} (${manifest.createdAt}); ${verification.files} files verified against their checksums`,
          `  nodes ${manifest.counts.nodes} over ${stats.cwes} CWEs (${manifest.counts.catalogOnlyNodes} catalogue-only); examples ${manifest.counts.examples}; records ${manifest.counts.records}`,
          `  nodes by language: ${Object.entries(byLanguage)
            .sort((a, b) => b[1] - a[1])
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
          `  guidelines ${stats.guidelines}; distillation ${manifest.distillation.mode}; slicer ${manifest.slicer.version} h=${manifest.slicer.hops}; embedder ${String(manifest.embedder.id)}`,
        ].join('\n') + '\n',
      );
    });

  kb.command('show')
    .description('Show a CWE node: guidelines, cause, APIs and a sliced secure example')
    .argument('<cwe>', 'a CWE id such as CWE-89')
    .option('--language <language>', 'the node of this language (default: every node of the CWE)')
    .option('--kb <dir>', 'KB directory', 'rescue-kb')
    .option('--json', 'print JSON')
    .action(async (cweArg: string, opts: { kb: string; language?: string; json?: boolean }) => {
      const cwe = parseCweId(cweArg);
      if (!cwe) throw new InvalidInputError(`not a CWE id: ${JSON.stringify(cweArg)} (use e.g. CWE-89)`);
      const dir = new KbDirectory(opts.kb);
      const nodes = (await dir.nodes()).filter((n) => n.cwe === cwe && (!opts.language || n.language === opts.language || n.language === undefined));
      if (nodes.length === 0) throw new NotFoundError(`${cwe}${opts.language ? ` (${opts.language})` : ''} is not in the KB ${opts.kb}`);
      const examples = new Map((await dir.examples()).map((e) => [e.id, e]));
      if (opts.json)
        return void process.stdout.write(
          `${JSON.stringify(
            nodes.map((n) => ({ ...n, example: examples.get(n.exampleIds[0]) })),
            null,
            2,
          )}\n`,
        );
      for (const n of nodes) {
        const example = n.exampleIds.map((id) => examples.get(id)).find(Boolean);
        const out = [
          `${n.cwe}${n.name ? `: ${n.name}` : ''}  [${n.id}, ${n.exampleIds.length} examples, ${n.provenance.mode}]`,
          '',
          'Guidelines:',
          ...(n.guidelines.length ? n.guidelines.map((g) => `  - ${g}`) : ['  (none)']),
          '',
          'Vulnerability cause:',
          `  ${n.cause}`,
          ...(n.apiNames.length ? ['', `APIs: ${n.apiNames.slice(0, 20).join(', ')}${n.apiNames.length > 20 ? ', …' : ''}`] : []),
          ...(example
            ? ['', `Secure example (sliced, ${example.language}${example.sourceUrl ? `, from ${example.sourceUrl}` : ''}):`, ...example.slicedSecure.split('\n').map((l) => `  | ${l}`)]
            : []),
          '',
        ];
        process.stdout.write(`${out.join('\n')}\n`);
      }
    });
}
