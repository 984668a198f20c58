// i2vbench leaderboard: sortable columns and filters for the static pages (no dependencies).
(function () {
  "use strict";
  var table = document.getElementById("board");
  if (!table) return;
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var count = document.getElementById("count");
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var dots = Array.prototype.slice.call(document.querySelectorAll("svg circle[data-kind]"));

  function matches(el) {
    return selects.every(function (s) { return !s.value || el.dataset[s.dataset.filter] === s.value; });
  }

  function applyFilters() {
    var shown = 0;
    rows.forEach(function (r) {
      var ok = matches(r);
      r.hidden = !ok;
      if (ok) shown += 1;
    });
    dots.forEach(function (c) { c.style.display = matches(c) ? "" : "none"; });
    if (count) count.textContent = "Showing " + shown + " of " + rows.length + " rows";
  }
  selects.forEach(function (s) { s.addEventListener("change", applyFilters); });

  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, i) {
    th.tabIndex = 0;
    function sortBy() {
      var num = th.dataset.sort === "num";
      // numbers: best (highest) first on the first click, except rank-like columns; text: A to Z
      var first = num && th.dataset.first !== "asc" ? "desc" : "asc";
      var dir = th.dataset.dir ? (th.dataset.dir === "asc" ? "desc" : "asc") : first;
      heads.forEach(function (h) { delete h.dataset.dir; h.removeAttribute("aria-sort"); });
      th.dataset.dir = dir;
      th.setAttribute("aria-sort", dir === "asc" ? "ascending" : "descending");
      var sorted = Array.prototype.slice.call(tbody.rows).sort(function (a, b) {
        var x = a.cells[i].dataset.v, y = b.cells[i].dataset.v;
        if (x === "" || y === "") return (x === "") - (y === "");  // "-" always last
        var c = num ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return dir === "asc" ? c : -c;
      });
      sorted.forEach(function (r) { tbody.appendChild(r); });
    }
    th.addEventListener("click", sortBy);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(); });
  });
  applyFilters();
})();
