// Editorial calendar: drag a post onto another day to move it there (same local time).
// Without a mouse (or without JavaScript), each movable post has its own "Déplacer" form:
// this script only fills that form's day and submits it, so both paths are one.
(function () {
  "use strict";

  function init() {
    var table = document.querySelector("table.calendar");
    if (!table) return;
    var dragged = null;

    table.addEventListener("dragstart", function (event) {
      var item = event.target.closest("li[data-move]");
      if (!item) return;
      dragged = item;
      item.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", item.dataset.move);
    });

    table.addEventListener("dragend", function () {
      if (dragged) dragged.classList.remove("dragging");
      dragged = null;
      table.querySelectorAll("td.drop-target").forEach(function (cell) {
        cell.classList.remove("drop-target");
      });
    });

    table.addEventListener("dragover", function (event) {
      var cell = event.target.closest("td[data-day]");
      if (!cell || !dragged) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      table.querySelectorAll("td.drop-target").forEach(function (other) {
        if (other !== cell) other.classList.remove("drop-target");
      });
      cell.classList.add("drop-target");
    });

    table.addEventListener("drop", function (event) {
      var cell = event.target.closest("td[data-day]");
      if (!cell || !dragged) return;
      event.preventDefault();
      var form = document.getElementById("move-" + dragged.dataset.move);
      if (!form) return;
      if (dragged.closest("td[data-day]") === cell) return;
      form.querySelector("input[name=jour]").value = cell.dataset.day;
      form.submit();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
