// The watch page's hourly chart. Data comes from the json_script block "watch-series"
// (no inline script: the page runs under a strict Content-Security-Policy).
(function () {
  "use strict";
  function draw() {
    var canvas = document.getElementById("watch-chart");
    var source = document.getElementById("watch-series");
    if (!canvas || !source || typeof window.Chart === "undefined") {
      return;
    }
    var series = JSON.parse(source.textContent);
    var lang = document.documentElement.lang || "fr";
    var format = new Intl.DateTimeFormat(lang, {
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
    });
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: series.map(function (p) {
          return format.format(new Date(p.hour));
        }),
        datasets: [
          {
            label: canvas.dataset.label || "Mentions",
            data: series.map(function (p) {
              return p.count;
            }),
            backgroundColor: "#1f4e9c",
          },
        ],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: true,
        aspectRatio: 3,
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
