/**
 * The script the HTML report runs in the browser. It reads the series JSON
 * and the chart settings embedded in the page and draws two charts with
 * uPlot (inlined beside it), their cursors in step:
 * - throughput: one line per stream;
 * - errors (solid) and retransmissions (dashed) per interval, per stream;
 * both with the faults as translucent labelled bands under the lines and the
 * events as dashed labelled vertical marks. Once both have drawn it records
 * so in the DOM, for a headless browser to see:
 *
 *     <body data-chart="drawn" data-series="N" data-detail-series="2N" data-bands="F" data-events="E">
 *
 * `data-chart` is "pending" before, "unavailable" without uPlot (the static
 * SVG figure is there regardless), "error" (with `data-chart-error`) when
 * the script failed.
 *
 * Plain ES2017 in a string: it runs in the browser, never in Node. It must
 * contain neither `]]>` nor a closing script tag (it sits in a CDATA
 * section of the page's script element).
 */
export const CHART_SCRIPT = String.raw`
(function () {
  'use strict';
  var body = document.body;
  function fail(message) {
    body.setAttribute('data-chart', 'error');
    body.setAttribute('data-chart-error', String(message));
  }
  window.addEventListener('error', function (e) { fail(e.message); });
  try {
    var series = JSON.parse(document.getElementById('series-data').textContent);
    var cfg = JSON.parse(document.getElementById('chart-config').textContent);
    if (typeof uPlot !== 'function') {
      body.setAttribute('data-chart', 'unavailable');
      return;
    }
    var iv = series.intervalMs;
    var count = Math.max(1, Math.round((series.endUs - series.startUs) / (iv * 1000)));
    var xs = [];
    for (var i = 0; i < count; i++) xs.push((series.startUs / 1000 + i * iv + iv / 2) / 1000);
    var perSecond = 1000 / iv;
    var data = [xs].concat(series.streams.map(function (s) {
      return s.points.map(function (p) {
        return cfg.unit === 'ops' ? p.ops * perSecond : (p.bytes / 1048576) * perSecond;
      });
    }));
    var px = uPlot.pxRatio || 1;
    var t0 = series.startUs / 1e6;
    var t1 = series.endUs / 1e6;
    function xPos(u, us) {
      return u.valToPos(Math.min(Math.max(us / 1e6, t0), t1), 'x', true);
    }
    function drawBands(u) {
      var ctx = u.ctx;
      var top = u.bbox.top;
      ctx.save();
      ctx.font = (11 * px) + 'px sans-serif';
      ctx.textBaseline = 'top';
      series.faults.forEach(function (f, i) {
        var x0 = xPos(u, f.startUs);
        var x1 = xPos(u, f.endUs === undefined ? series.endUs : f.endUs);
        var color = cfg.faultColors[i];
        ctx.globalAlpha = cfg.bandOpacity;
        ctx.fillStyle = color;
        ctx.fillRect(x0, top, Math.max(px, x1 - x0), u.bbox.height);
        ctx.globalAlpha = 1;
        ctx.fillText(f.label, x0 + 3 * px, top + (3 + (i % 3) * 13) * px);
      });
      ctx.restore();
    }
    function drawEvents(u) {
      var ctx = u.ctx;
      var top = u.bbox.top;
      ctx.save();
      ctx.font = (11 * px) + 'px sans-serif';
      ctx.lineWidth = 1.5 * px;
      ctx.setLineDash([4 * px, 3 * px]);
      series.events.forEach(function (e, i) {
        var x = xPos(u, e.atUs);
        ctx.strokeStyle = cfg.eventColors[i];
        ctx.fillStyle = cfg.eventColors[i];
        ctx.beginPath();
        ctx.moveTo(x, top);
        ctx.lineTo(x, top + u.bbox.height);
        ctx.stroke();
        ctx.save();
        ctx.translate(x - 3 * px, top + 4 * px);
        ctx.rotate(-Math.PI / 2);
        ctx.textAlign = 'right';
        ctx.fillText(e.label, 0, 0);
        ctx.restore();
      });
      ctx.restore();
    }
    var drawn = {};
    function markDrawn(name) {
      return function (u) {
        drawn[name] = u.series.length - 1;
        if (drawn.throughput === undefined || drawn.faults === undefined) return;
        body.setAttribute('data-chart', 'drawn');
        body.setAttribute('data-series', String(drawn.throughput));
        body.setAttribute('data-detail-series', String(drawn.faults));
        body.setAttribute('data-bands', String(series.faults.length));
        body.setAttribute('data-events', String(series.events.length));
      };
    }
    function width(el) {
      return Math.max(480, (el.clientWidth || 960) - 10);
    }
    var charts = [];
    function chart(name, el, title, yTitle, lines, values, height) {
      var opts = {
        title: title,
        width: width(el),
        height: height,
        cursor: { sync: { key: 'run' } },
        scales: { x: { time: false, range: [t0, t1] }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } } },
        axes: [{ label: cfg.xTitle }, { label: yTitle, size: 70 }],
        series: [{ label: 'time (s)' }].concat(lines),
        hooks: { drawClear: [drawBands], draw: [drawEvents, markDrawn(name)] }
      };
      var u = new uPlot(opts, [xs].concat(values), el);
      charts.push({ u: u, el: el, height: height });
    }
    var el = document.getElementById('chart');
    chart('throughput', el, cfg.title, cfg.yTitle, series.streams.map(function (s, i) {
      return { label: s.id, stroke: cfg.streamColors[i], width: 1.5, points: { show: false } };
    }), data.slice(1), 380);
    var lines = [];
    var values = [];
    series.streams.forEach(function (s, i) {
      lines.push({ label: s.id + ' errors', stroke: cfg.streamColors[i], width: 1.5, points: { show: false } });
      values.push(s.points.map(function (p) { return p.errors; }));
      lines.push({ label: s.id + ' retransmissions', stroke: cfg.streamColors[i], width: 1.5, dash: [6, 4], points: { show: false } });
      values.push(s.points.map(function (p) { return p.retransmissions; }));
    });
    chart('faults', document.getElementById('chart-errors'), 'Errors and retransmissions per stream', 'Count per ' + iv + ' ms interval', lines, values, 260);
    window.addEventListener('resize', function () {
      charts.forEach(function (c) { c.u.setSize({ width: width(c.el), height: c.height }); });
    });
  } catch (err) {
    fail(err && err.message ? err.message : err);
  }
})();
`
