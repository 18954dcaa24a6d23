/**
 * The outcome of one `verify`: per symbol and interval comparisons folded into one report, printed as text
 * lines (one per problem, then a summary line) or as one JSON object.
 */
import type { FieldMismatch, SeriesComparison } from './compare-klines';

export interface MissingKline {
  symbol: string;
  interval: string;
  openTime: number;
}

export interface VerifyReport {
  from: number;
  to: number;
  /** Symbol and interval pairs compared. */
  series: number;
  /** Klines both sides have. */
  compared: number;
  matched: number;
  mismatchedKlines: number;
  mismatches: FieldMismatch[];
  onlyExchange: MissingKline[];
  onlyOurs: MissingKline[];
}

export function emptyReport(from: number, to: number): VerifyReport {
  return { from, to, series: 0, compared: 0, matched: 0, mismatchedKlines: 0, mismatches: [], onlyExchange: [], onlyOurs: [] };
}

export function addSeries(report: VerifyReport, symbol: string, interval: string, c: SeriesComparison): void {
  report.series++;
  report.compared += c.matched + c.mismatchedKlines;
  report.matched += c.matched;
  report.mismatchedKlines += c.mismatchedKlines;
  report.mismatches.push(...c.mismatches);
  for (const openTime of c.onlyExchange) report.onlyExchange.push({ symbol, interval, openTime });
  for (const openTime of c.onlyOurs) report.onlyOurs.push({ symbol, interval, openTime });
}

/** Every compared kline matched and neither side has one the other lacks. */
export function allMatch(r: VerifyReport): boolean {
  return r.mismatches.length === 0 && r.onlyExchange.length === 0 && r.onlyOurs.length === 0;
}

const iso = (t: number): string => new Date(t).toISOString();

export function summaryLine(r: VerifyReport): string {
  return (
    `verify: ${allMatch(r) ? 'all match' : 'DIFFERENCES'}; ${r.series} symbol/interval series, ${r.compared} klines compared, ` +
    `${r.matched} match, ${r.mismatchedKlines} mismatched (${r.mismatches.length} fields); ` +
    `${r.onlyExchange.length} only at the exchange, ${r.onlyOurs.length} only ours; window [${iso(r.from)}, ${iso(r.to)})`
  );
}

/** Text form: a line per field mismatch, per kline only one side has, then the summary line. */
export function reportLines(r: VerifyReport): string[] {
  const lines: string[] = [];
  for (const m of r.mismatches) {
    const exact = m.oursExact !== m.ours ? ` (exactly ${m.oursExact})` : '';
    lines.push(`mismatch ${m.symbol} ${m.interval} ${iso(m.openTime)} (${m.openTime}) ${m.field}: ours ${m.ours}${exact}, theirs ${m.theirs}`);
  }
  for (const k of r.onlyExchange) lines.push(`only-at-exchange ${k.symbol} ${k.interval} ${iso(k.openTime)} (${k.openTime})`);
  for (const k of r.onlyOurs) lines.push(`only-ours ${k.symbol} ${k.interval} ${iso(k.openTime)} (${k.openTime})`);
  lines.push(summaryLine(r));
  return lines;
}

export function reportJson(r: VerifyReport): string {
  return JSON.stringify({ ok: allMatch(r), ...r });
}
