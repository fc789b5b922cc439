/* Parvis: the reporting dashboards' charts.
 *
 * Each chart is a <canvas data-chart="ID"> whose data sits in <script type="application/json"
 * id="ID"> (Django's json_script), so the page carries no inline JavaScript. The JSON is
 * {"type": "line" | "bar", "title": str, "labels": [str], "unit": str,
 *  "datasets": [{"label": str, "data": [number | null]}]}.
 * Every chart has a data table beside it (in a <details>) for screen readers and for
 * anyone who prefers figures; a null value is a gap ("non fourni"), never a zero.
 */
(function () {
  "use strict";

  // Colour-blind safe (Okabe-Ito), with a dash pattern each so series differ without colour.
  var COLOURS = ["#0a5bb5", "#c05800", "#08785a", "#a3307e", "#4d4d4d"];
  var DASHES = [[], [6, 3], [2, 3], [8, 3, 2, 3], [1, 2]];
  var charts = [];

  function numberFormat(value) {
    if (value === null || value === undefined) {
      return "—";
    }
    return new Intl.NumberFormat(document.documentElement.lang || "fr").format(value);
  }

  function build(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    var spec = JSON.parse(source.textContent);
    var reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    var horizontal = spec.type === "bar";
    var datasets = spec.datasets.map(function (set, i) {
      var colour = COLOURS[i % COLOURS.length];
      return {
        label: set.label,
        data: set.data,
        borderColor: colour,
        backgroundColor: horizontal ? colour : colour + "22",
        borderDash: DASHES[i % DASHES.length],
        borderWidth: 2,
        pointRadius: spec.labels.length > 40 ? 0 : 2,
        spanGaps: false,
        tension: 0
      };
    });
    var chart = new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        animation: reduceMotion ? false : { duration: 300 },
        maintainAspectRatio: false,
        responsive: true,
        indexAxis: horizontal ? "y" : "x",
        plugins: {
          legend: { display: datasets.length > 1, labels: { color: "#1b1b1f" } },
          title: { display: false },
          tooltip: {
            callbacks: {
              label: function (context) {
                var raw = context.raw;
                var shown = raw === null ? (canvas.dataset.missing || "non fourni") : numberFormat(raw);
                return context.dataset.label + " : " + shown;
              }
            }
          }
        },
        scales: {
          x: { ticks: { color: "#1b1b1f", maxTicksLimit: 8 }, beginAtZero: horizontal },
          y: { ticks: { color: "#1b1b1f" }, beginAtZero: !horizontal }
        }
      }
    });
    charts.push(chart);
  }

  function init() {
    var canvases = document.querySelectorAll("canvas[data-chart]");
    for (var i = 0; i < canvases.length; i++) {
      build(canvases[i]);
    }
  }

  // Printing: let each chart take the printed width, then come back.
  window.addEventListener("beforeprint", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
  window.addEventListener("afterprint", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
