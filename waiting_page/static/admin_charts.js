// Line charts as inline SVG, drawn from the dashboard's data (no library).
// Each chart keeps what it last drew in data-last, which tests and people
// can read to tell that it moved.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var W = 320, H = 120, LEFT = 36, BOTTOM = 16, TOP = 8;

  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    var step = Math.pow(10, Math.floor(Math.log10(value)));
    var options = [1, 2, 5, 10];
    for (var i = 0; i < options.length; i++) {
      if (options[i] * step >= value) return options[i] * step;
    }
    return 10 * step;
  }

  function label(seconds) {
    var minutes = Math.round(seconds / 60);
    return minutes === 0 ? "now" : "-" + minutes + " min";
  }

  // lines: [{values: [...], cls: "a"}]; null values leave a gap.
  function draw(svg, lines, bucketSeconds) {
    var count = lines.reduce(function (n, line) { return Math.max(n, line.values.length); }, 0);
    var top = niceMax(lines.reduce(function (m, line) {
      return line.values.reduce(function (mm, v) { return v === null ? mm : Math.max(mm, v); }, m);
    }, 0));
    var slots = Math.max(count - 1, 1);
    var x = function (i) { return LEFT + (W - LEFT - 4) * i / slots; };
    var y = function (v) { return TOP + (H - TOP - BOTTOM) * (1 - v / top); };
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.appendChild(el("line", {x1: LEFT, y1: y(0), x2: W - 4, y2: y(0), "class": "axis"}));
    svg.appendChild(el("line", {x1: LEFT, y1: y(top), x2: W - 4, y2: y(top), "class": "grid"}));
    svg.appendChild(el("text", {x: LEFT - 4, y: y(top) + 4, "class": "tick end"}, String(top)));
    svg.appendChild(el("text", {x: LEFT - 4, y: y(0), "class": "tick end"}, "0"));
    svg.appendChild(el("text", {x: LEFT, y: H - 2, "class": "tick"},
      label((count - 1) * bucketSeconds)));
    svg.appendChild(el("text", {x: W - 4, y: H - 2, "class": "tick end"}, "now"));
    lines.forEach(function (line) {
      var parts = [], current = [];
      line.values.forEach(function (v, i) {
        if (v === null) {
          if (current.length) parts.push(current);
          current = [];
        } else {
          current.push(x(i).toFixed(1) + "," + y(v).toFixed(1));
        }
      });
      if (current.length) parts.push(current);
      parts.forEach(function (points) {
        if (points.length === 1) points.push(points[0]);
        svg.appendChild(el("polyline", {points: points.join(" "), "class": "line " + line.cls}));
      });
    });
    var last = lines.map(function (line) {
      var v = line.values.length ? line.values[line.values.length - 1] : null;
      return v === null ? "–" : String(Math.round(v * 10) / 10);
    });
    svg.setAttribute("data-last", count + ":" + last.join("/"));
    var title = el("title", {}, svg.getAttribute("aria-label") + ": " + last.join(", ") + " now");
    svg.insertBefore(title, svg.firstChild);
  }

  window.WrCharts = {draw: draw};
}());
