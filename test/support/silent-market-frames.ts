/**
 * The silent market of the catch-up test and benchmark. It lives in scripts/bench/silent-market.ts so that
 * `npm run build` compiles it for the benchmark (the build covers src/ and scripts/); tests import it here.
 */
export { silentMarketFrames, type SilentMarket } from '../../scripts/bench/silent-market';
