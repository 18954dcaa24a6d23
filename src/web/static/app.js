/* global window, document, location, URL, WebSocket, setTimeout, LightweightCharts */
/*
 * The live page: a TradingView lightweight-charts candlestick chart with volume, fed over a WebSocket by the
 * `run` process (src/web/page-server.ts). Messages from the server:
 *   {type:'series', series:[{symbol, intervals}]}           symbols and intervals seen so far
 *   {type:'history', symbol, interval, klines:[Kline]}      after a subscribe: the stored recent klines
 *   {type:'update', symbol, interval, klines:[Kline]}       new versions of klines of the subscribed series
 *   {type:'status', status, info}                           the status panel, every 2 s
 * The live (not final) candle is drawn translucent with a dashed-looking border and a "live" marker; final
 * candles are solid. window.klinestream exposes the chart state for tests.
 */
(function () {
  const UP = '#26a69a';
  const DOWN = '#ef5350';
  const LIVE = '#f0b90b';
  const $ = (id) => document.getElementById(id);
  const symbolSelect = $('symbol');
  const intervalSelect = $('interval');

  const chart = LightweightCharts.createChart($('chart'), {
    autoSize: true,
    layout: { background: { color: '#0e1117' }, textColor: '#d1d4dc' },
    grid: { vertLines: { color: '#1f242c' }, horzLines: { color: '#1f242c' } },
    timeScale: { timeVisible: true, secondsVisible: false, borderColor: '#30363d', rightOffset: 6, barSpacing: 9 },
    rightPriceScale: { borderColor: '#30363d' },
    crosshair: { mode: 0 },
  });
  const candles = chart.addSeries(LightweightCharts.CandlestickSeries, {
    upColor: UP, downColor: DOWN, borderUpColor: UP, borderDownColor: DOWN, wickUpColor: UP, wickDownColor: DOWN,
  });
  const volume = chart.addSeries(LightweightCharts.HistogramSeries, { priceFormat: { type: 'volume' }, priceScaleId: '', lastValueVisible: false, priceLineVisible: false });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  const markers = LightweightCharts.createSeriesMarkers(candles, []);

  /** openTime -> Kline of the shown series. */
  let bars = new Map();
  let lastTime = -Infinity;
  let current = { symbol: '', interval: '' };
  let seriesList = [];
  let ws;
  let updates = 0;

  const toTime = (k) => Math.floor(k.openTime / 1000);
  function candleOf(k) {
    const up = k.close >= k.open;
    const base = { time: toTime(k), open: k.open, high: k.high, low: k.low, close: k.close };
    if (k.isFinal) return base;
    const fill = up ? 'rgba(38,166,154,0.35)' : 'rgba(239,83,80,0.35)';
    return { ...base, color: fill, borderColor: LIVE, wickColor: LIVE };
  }
  function volumeOf(k) {
    const up = k.close >= k.open;
    const alpha = k.isFinal ? 0.5 : 0.25;
    return { time: toTime(k), value: k.volume, color: up ? `rgba(38,166,154,${alpha})` : `rgba(239,83,80,${alpha})` };
  }
  function fmt(x) {
    if (!Number.isFinite(x)) return '-';
    const a = Math.abs(x);
    const digits = a >= 1000 ? 2 : a >= 1 ? 4 : 8;
    return Number(x.toFixed(digits)).toString();
  }
  function refreshMarker() {
    const sorted = [...bars.values()].sort((a, b) => a.openTime - b.openTime);
    const live = sorted.filter((k) => !k.isFinal);
    markers.setMarkers(live.map((k) => ({ time: toTime(k), position: 'aboveBar', color: LIVE, shape: 'arrowDown', text: 'live' })));
    const last = sorted[sorted.length - 1];
    $('legend').innerHTML = last === undefined ? '' :
      `${current.symbol} ${current.interval} <b>${last.isFinal ? 'final' : 'live'}</b> O <b>${fmt(last.open)}</b> H <b>${fmt(last.high)}</b> ` +
      `L <b>${fmt(last.low)}</b> C <b>${fmt(last.close)}</b> V <b>${fmt(last.volume)}</b> trades <b>${last.tradeCount}</b>`;
    $('empty').classList.toggle('hidden', sorted.length > 0);
  }
  function redraw() {
    const sorted = [...bars.values()].sort((a, b) => a.openTime - b.openTime);
    candles.setData(sorted.map(candleOf));
    volume.setData(sorted.map(volumeOf));
    lastTime = sorted.length === 0 ? -Infinity : sorted[sorted.length - 1].openTime;
    refreshMarker();
  }
  function apply(klines) {
    let full = false;
    for (const k of klines) {
      const known = bars.get(k.openTime);
      if (known !== undefined && known.version >= k.version) continue;
      bars.set(k.openTime, k);
      updates++;
      if (k.openTime >= lastTime) {
        candles.update(candleOf(k));
        volume.update(volumeOf(k));
        lastTime = k.openTime;
      } else if (known !== undefined) {
        candles.update(candleOf(k), true);
        volume.update(volumeOf(k), true);
      } else {
        full = true;
      }
    }
    if (full) redraw();
    else refreshMarker();
  }

  function subscribe() {
    const symbol = symbolSelect.value;
    const interval = intervalSelect.value;
    if (!symbol || !interval) return;
    if (symbol === current.symbol && interval === current.interval && bars.size > 0) return;
    current = { symbol, interval };
    bars = new Map();
    redraw();
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'subscribe', symbol, interval }));
    const url = new URL(location.href);
    url.searchParams.set('symbol', symbol);
    url.searchParams.set('interval', interval);
    window.history.replaceState(null, '', url);
  }

  function fillIntervals() {
    const entry = seriesList.find((s) => s.symbol === symbolSelect.value);
    const intervals = entry ? entry.intervals : [];
    const wanted = intervalSelect.value || new URL(location.href).searchParams.get('interval') || '1m';
    intervalSelect.innerHTML = intervals.map((i) => `<option>${i}</option>`).join('');
    intervalSelect.value = intervals.includes(wanted) ? wanted : intervals[0] || '';
  }

  function onSeries(list) {
    seriesList = list;
    const wanted = symbolSelect.value || new URL(location.href).searchParams.get('symbol') || 'BTCUSDT';
    symbolSelect.innerHTML = list.map((s) => `<option>${s.symbol}</option>`).join('');
    const names = list.map((s) => s.symbol);
    symbolSelect.value = names.includes(wanted) ? wanted : names[0] || '';
    fillIntervals();
    subscribe();
  }

  const num = (x, digits = 0) => (x === undefined || x === null ? '-' : Number(x).toFixed(digits));
  function row(name, value, cls = '') {
    return `<tr class="${cls}"><td>${name}</td><td>${value}</td></tr>`;
  }
  function onStatus(status, info) {
    $('mode').textContent = `${info.mode || ''}${info.topicPrefix ? ` · prefix ${info.topicPrefix}` : ''}`;
    const restore = status.lastRestoreAt ? ` (last ${new Date(status.lastRestoreAt).toLocaleTimeString()})` : '';
    $('figures').innerHTML = [
      row('trades/s (producer)', num(status.tradesPerSecond, 1)),
      row('trades/s (workers)', num(status.appliedPerSecond, 1)),
      row('klines/s (page)', num(status.klinesPerSecond, 1)),
      row('trades written', num(status.tradesTotal)),
      row('consumer lag', num(status.totalLag), status.totalLag > 10000 ? 'warn' : ''),
      row('bad frames', num(status.badFrames), status.badFrames > 0 ? 'warn' : ''),
      row('gaps found / filled', `${num(status.gapsFound)} / ${num(status.gapsFilled)}`),
      row('unfillable gaps', num(status.unfillableGaps), status.unfillableGaps > 0 ? 'bad' : ''),
      row('late trades', num(status.lateTrades)),
      row('DLQ records', num(status.dlq), status.dlq > 0 ? 'warn' : ''),
      row('restores (symbols)', `${num(status.restores)} (${num(status.restoredSymbols)})${restore}`),
      row('Kafka', status.kafkaHealthy === undefined ? '-' : status.kafkaHealthy ? 'healthy' : 'unavailable', status.kafkaHealthy === false ? 'bad' : ''),
    ].join('');
    $('lag').innerHTML = status.lag.length === 0 ? row('no partitions assigned yet', '') :
      status.lag.map((l) => row(`partition ${l.partition} (${l.worker})`, num(l.lag))).join('');
    const procs = info.processes || status.processes;
    $('processes').innerHTML = procs.map((p) => row(`${p.name}${p.pid ? ` (pid ${p.pid})` : ''}`, `${p.state || (p.up ? 'up' : 'down')}${p.restarts ? `, ${p.restarts} restarts` : ''}`,
      p.state && p.state !== 'running' && p.state !== 'done' ? 'warn' : '')).join('');
  }

  function connect(delay = 500) {
    ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    ws.onopen = () => {
      $('connection').textContent = 'live';
      $('connection').className = 'connection ok';
      delay = 500;
      if (current.symbol) {
        const again = current;
        current = { symbol: '', interval: '' };
        symbolSelect.value = again.symbol;
        intervalSelect.value = again.interval;
        subscribe();
      }
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === 'series') onSeries(msg.series);
      else if (msg.type === 'history' && msg.symbol === current.symbol && msg.interval === current.interval) {
        bars = new Map(msg.klines.map((k) => [k.openTime, k]));
        redraw();
        // A short history fills the width; a long one shows its recent end.
        if (bars.size > 0 && bars.size < 120) chart.timeScale().fitContent();
        else chart.timeScale().scrollToRealTime();
      } else if (msg.type === 'update' && msg.symbol === current.symbol && msg.interval === current.interval) apply(msg.klines);
      else if (msg.type === 'status') onStatus(msg.status, msg.info);
    };
    ws.onclose = () => {
      $('connection').textContent = 'disconnected: retrying';
      $('connection').className = 'connection bad';
      setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
    };
  }

  symbolSelect.addEventListener('change', () => {
    fillIntervals();
    subscribe();
  });
  intervalSelect.addEventListener('change', subscribe);
  connect();

  window.klinestream = {
    chart, candles, volume,
    get current() { return current; },
    get updates() { return updates; },
    /** The klines behind the drawn candles, oldest first. */
    klines: () => [...bars.values()].sort((a, b) => a.openTime - b.openTime),
    /** What the candlestick series holds (the chart's own data). */
    candleData: () => candles.data(),
  };
})();
