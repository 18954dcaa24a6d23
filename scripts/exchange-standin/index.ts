/**
 * The exchange stand-in: a local Binance market-data server (WebSocket + REST) replaying recorded frames
 * on a timeline, with scripted trouble. Lives under scripts/ so that `npm run build` compiles it (into
 * dist/scripts/exchange-standin/) for the standalone process `scripts/exchange-standin.ts`; tests import it
 * through test/support/exchange-standin.ts. Import this index explicitly (`.../exchange-standin/index`):
 * `.../exchange-standin` alone resolves to the CLI file beside this folder.
 */
export { ExchangeStandin } from './standin';
export type { CloseReason, ConnectionRecord, RestRequestRecord, StandinStats, TimelineInfo } from './standin';
export { GARBAGE_KINDS, SAMPLE_EXTRA_SYMBOLS } from './options';
export type {
  BundledKlinesFile,
  CustomRestFailure,
  CutMode,
  CutSpec,
  CutTarget,
  ExchangeStandinOptions,
  GarbageKind,
  Market,
  RestEndpoint,
  RestFailure,
  RestFailureKind,
  RestOptions,
  Speed,
  SymbolInfo,
  TimelineFile,
  TroubleOptions,
} from './options';
export type { FileSummary, StandinTrade } from './timeline';
