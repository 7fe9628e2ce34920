import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { type CorruptEntry, FsRecordStore } from '@rescue/datasets';
import { KbDirectory, type KbProblem } from '@rescue/knowledge';

interface VerifyOptions {
  kb: string;
  version?: string;
  records: boolean;
  json?: boolean;
}

const megabytes = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(1)} MB`;

/**
 * `rescue kb verify`: the version (CURRENT's, or the one given) against the checksums in its
 * manifest, and the KB folder's record and slice stores entry by entry. Exit 1 with every bad file
 * named, one per line, so a script or an operator knows what to rebuild or delete.
 */
export function registerKbVerify(kb: Command): void {
  kb.command('verify')
    .description('Check a KB version against its checksums, and the stored records and slices; exit 1 naming each bad file')
    .option('--kb <dir>', 'KB directory', 'rescue-kb')
    .option('--version <v>', 'the version to check (default: the one CURRENT points to)')
    .option('--no-records', 'check the version only, not the records/ and slices/ stores')
    .option('--json', 'print the findings as JSON')
    .action(async (opts: VerifyOptions) => {
      const dir = new KbDirectory(opts.kb);
      const version = await dir.verify(opts.version);
      const stores: Record<string, { checked: number; corrupt: CorruptEntry[] }> = {};
      if (opts.records) {
        for (const name of ['records', 'slices']) {
          const path = join(opts.kb, name);
          if (existsSync(path)) stores[name] = await new FsRecordStore(path).check();
        }
      }
      const problems: KbProblem[] = [...version.problems, ...Object.values(stores).flatMap((s) => s.corrupt.map((c) => ({ file: c.where, problem: c.problem })))];
      const ok = problems.length === 0;
      if (opts.json) {
        const { manifest: _manifest, ...found } = version;
        process.stdout.write(`${JSON.stringify({ ok, version: found, stores }, null, 2)}\n`);
      } else {
        process.stdout.write(`KB ${version.version} in ${opts.kb}: ${version.ok ? 'OK' : `${version.problems.length} problem(s)`} (${version.files} files, ${megabytes(version.bytes)} hashed)\n`);
        for (const [name, s] of Object.entries(stores)) process.stdout.write(`  ${name}: ${s.checked} checked, ${s.corrupt.length} corrupt\n`);
        for (const p of problems) process.stderr.write(`rescue: ${p.file}: ${p.problem}\n`);
        if (!version.ok) process.stderr.write('rescue: rebuild the version with "rescue kb build" (a damaged copy is replaced), or roll CURRENT back to a sound one\n');
        if (Object.values(stores).some((s) => s.corrupt.length > 0))
          process.stderr.write('rescue: re-ingest the sources of corrupt records ("rescue kb build" or "rescue kb ingest"): a sound entry replaces a corrupt one\n');
      }
      if (!ok) process.exitCode = 1;
    });
}
