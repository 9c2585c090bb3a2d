// Tracepipe usage page: the daily series (in the charts' data-series) drawn
// with the vendored uPlot. The same figures are in the table beside them.
'use strict';
(() => {
  const grid = document.getElementById('usage-charts');
  if (!grid || typeof uPlot === 'undefined') return;
  const days = JSON.parse(grid.dataset.series || '[]');
  if (days.length === 0) return;
  // Midday UTC of each day, in seconds, as uPlot's time axis takes them.
  const x = days.map((d) => Date.parse(`${d.date}T12:00:00Z`) / 1000);
  const column = (key, scale = 1) => days.map((d) => d[key] / scale);
  const charts = {
    counts: [
      { label: 'Sessions', stroke: '#0b5cad', values: column('sessions'), dash: [] },
      { label: 'Examples', stroke: '#1a6b34', values: column('examples'), dash: [6, 4] },
    ],
    tokens: [{ label: 'Tokens', stroke: '#7a3e9d', values: column('tokens'), dash: [] }],
    storage: [{ label: 'MB stored', stroke: '#a4161a', values: column('storage_bytes', 1e6), dash: [] }],
  };
  grid.querySelectorAll('[data-chart]').forEach((el) => {
    const series = charts[el.dataset.chart];
    if (!series) return;
    const width = Math.max(280, Math.floor(el.getBoundingClientRect().width) || 480);
    const options = {
      width,
      height: 200,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ stroke: '#4a535e' }, { stroke: '#4a535e', size: 60 }],
      series: [{ label: 'Day' }].concat(series.map((s) => ({
        label: s.label, stroke: s.stroke, width: 2, dash: s.dash, points: { show: true, size: 5 },
      }))),
    };
    // The canvas is drawn, not read: the figure's caption names it and the
    // table holds the numbers.
    new uPlot(options, [x].concat(series.map((s) => s.values)), el);
  });
})();
