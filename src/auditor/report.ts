// The audit report for people; --json prints the AuditReport itself.
import type { AuditReport } from './audit.js';
import type { WitnessReport } from './witnesses.js';

const MAX_LISTED = 20;

function witnessLine(w: WitnessReport): string {
  const who =
    w.cosignatures.length === 0 ? 'no policy witness' : w.cosignatures.map((c) => `${c.witness} (${c.time})`).join(', ');
  const age = w.maxAgeSeconds === null ? '' : `; newest within --max-age ${w.maxAgeSeconds} s`;
  return `  witnesses    quorum ${JSON.stringify(w.quorum)} (${w.needs}) ${w.met ? 'met' : 'NOT met'}: cosigned by ${who}${age}`;
}

/** Which checkpoint of the erasures log proved the erasures, and how it relates to the one trusted before. */
function erasuresCheckpoint(r: AuditReport): string {
  if (!r.erasures) return '';
  const { checkpoint, trusted } = r.erasures;
  const how =
    trusted === null
      ? 'now trusted'
      : trusted.treeSize === checkpoint.treeSize
        ? 'unchanged since trusted'
        : `proved from the trusted size ${trusted.treeSize}`;
  return `, at its checkpoint of size ${checkpoint.treeSize} (${how})`;
}

export function reportText(r: AuditReport, statePath: string): string {
  const where = `${r.app} @ ${r.url}`;
  if (!r.ok) {
    const at = r.firstBadSeq === null ? '' : `: first bad position ${r.firstBadSeq}`;
    const lines =
      r.verdict === 'UNKNOWN'
        ? [`verify UNKNOWN  ${where}: neither verified nor proven wrong`, `  why: ${r.unknown}`]
        : [`verify FAILED  ${where}${at}`];
    for (const f of r.findings.slice(0, MAX_LISTED))
      lines.push(`  ${f.kind}${f.seq === null ? '' : ` at ${f.seq}`}: ${f.message}`);
    if (r.findings.length > MAX_LISTED)
      lines.push(
        `  … and ${r.findings.length - MAX_LISTED} more findings (--json lists ${r.findingsOmitted > 0 ? 'the lowest ' : ''}${r.findings.length})`,
      );
    if (r.findingsOmitted > 0) lines.push(`  … and ${r.findingsOmitted} more at higher positions, not listed`);
    lines.push(
      r.trusted
        ? `  state not updated: still trusting size ${r.trusted.treeSize} (${statePath})`
        : `  state not updated: nothing trusted yet (${statePath})`,
    );
    return lines.join('\n');
  }
  const cp = r.checkpoint!;
  const consistency =
    r.consistency === 'first-run'
      ? 'first run: this checkpoint is now trusted'
      : r.consistency === 'unchanged'
        ? `unchanged since the trusted checkpoint of size ${r.trusted!.treeSize}`
        : `proved from the trusted size ${r.trusted!.treeSize}`;
  const spots = r.spotChecked.length === 0 ? 'none' : `${r.spotChecked.length} OK (seq ${r.spotChecked.join(', ')})`;
  return [
    `verify OK  ${where}`,
    `  checkpoint   size ${cp.treeSize}, root ${cp.rootHash}, origin ${r.origin}`,
    `  consistency  ${consistency}`,
    `  events       [${r.range.from}, ${r.range.to}): ${r.eventsChecked} leaves recomputed, chain linked, ${r.pages} range proof(s) OK`,
    ...(r.eventsErased > 0
      ? [
          `  erased       ${r.eventsErased} payload(s) erased and listed in the erasures log (leaves checked)${erasuresCheckpoint(r)}`,
        ]
      : []),
    `  tree nodes   ${r.treeNodesChecked} stored node(s) the proofs are made of match the leaves`,
    `  inclusion    ${spots}`,
    ...(r.witnesses ? [witnessLine(r.witnesses)] : []),
    `  state        ${r.stateUpdated ? 'saved to' : 'unchanged in'} ${statePath}`,
  ].join('\n');
}
