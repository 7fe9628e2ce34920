import type { Command } from 'commander';
import { printable } from '@rescue/datasets';
import { NotFoundError } from '@rescue/domain';
import { type QuarantineEntry, QuarantineStore, summarizeQuarantine } from '@rescue/knowledge';

/** Where an item was read, one line: `file:line`, or the catalogue entry / KB node it belongs to. */
function place(e: QuarantineEntry): string {
  const at = `${printable(e.source.file, 300)}${e.source.line ? `:${e.source.line}` : ''}`;
  return e.source.node ? `${at} (${printable(e.source.node, 60)})` : at;
}

function describe(e: QuarantineEntry): string[] {
  const head = `${e.released ? 'released ' : ''}${e.id}  ${e.kind}  ${e.trust}  ${place(e)}${e.cwe ? `  ${e.cwe}` : ''}${e.language ? ` ${e.language}` : ''}`;
  // Details are printable already (hidden characters written as <U+…>, clipped): the report never
  // makes a terminal render what the screen found.
  return [head, ...e.findings.map((f) => `    ${f.reason} (${printable(f.field, 60)}, ${f.rule}): ${printable(f.detail)}`)];
}

/**
 * `rescue kb quarantine list|release`: what the last build held back (docs/kb-poisoning.md), and an
 * operator's release of an item after review. A release is written to the KB folder and read by the
 * next build; the version serving now is not changed.
 */
export function registerKbQuarantine(kb: Command): void {
  const quarantine = kb.command('quarantine').description('What the KB screen held back (suspected poisoning), and releasing an item after review');

  quarantine
    .command('list')
    .description('List the items the last build held back, each with where it was read and why')
    .option('--kb <dir>', 'KB directory', 'rescue-kb')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { kb: string; json?: boolean }) => {
      const store = new QuarantineStore(opts.kb);
      const report = await store.report();
      if (!report) throw new NotFoundError(`no quarantine report in ${store.dir}: build the KB first (rescue kb build --kb ${opts.kb})`);
      const released = await store.released();
      const summary = summarizeQuarantine(report.entries, store.reportPath);
      // Released ids the last build no longer saw (the item left the sources, or changed and got a new id).
      const inReport = new Set(report.entries.map((e) => e.id));
      const stale = released.filter((r) => !inReport.has(r.id));
      if (opts.json) return void process.stdout.write(`${JSON.stringify({ ...report, summary, released, staleReleases: stale.map((r) => r.id) }, null, 2)}\n`);
      const reasons = Object.entries(summary.byReason)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ');
      const lines = [`Quarantine of build ${report.buildId} (${report.createdAt}) in ${opts.kb}: ${summary.held} held${reasons ? ` (${reasons})` : ''}, ${summary.released} released`];
      for (const e of [...report.entries].sort((a, b) => Number(a.released ?? false) - Number(b.released ?? false))) lines.push(...describe(e));
      if (stale.length > 0) lines.push(`${stale.length} released id(s) matched nothing in the last build: ${stale.map((r) => r.id).join(', ')}`);
      if (summary.held > 0) lines.push('Release an item after review with: rescue kb quarantine release <id>... (used from the next rescue kb build on)');
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  quarantine
    .command('release')
    .description('Release held-back items by id (or a unique prefix of 8+ digits); the next build uses them')
    .argument('<ids...>', 'quarantine ids from `rescue kb quarantine list`')
    .option('--kb <dir>', 'KB directory', 'rescue-kb')
    .option('--json', 'print what was released as JSON')
    .action(async (ids: string[], opts: { kb: string; json?: boolean }) => {
      const store = new QuarantineStore(opts.kb);
      // All or nothing: an unknown id fails the command before anything is written.
      const added = await store.release(ids);
      if (opts.json) return void process.stdout.write(`${JSON.stringify({ released: added, releasedPath: store.releasedPath }, null, 2)}\n`);
      const lines = added.map((r) => `released ${r.id}  ${r.kind}  ${printable(r.source.file, 300)}${r.source.line ? `:${r.source.line}` : ''}  (was held for ${r.reasons.join(', ')})`);
      if (added.length < ids.length) lines.push(`${ids.length - added.length} id(s) were already released`);
      lines.push(
        added.length > 0 ? `Takes effect at the next build (rescue kb build --kb ${opts.kb}); the version serving now is unchanged. Recorded in ${store.releasedPath}.` : 'Nothing new to release.',
      );
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
