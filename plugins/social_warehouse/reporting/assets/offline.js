/* Social Warehouse: offline stand-in for the CDN scripts of Great Expectations Data Docs.
 *
 * Data Docs pages load jQuery, Bootstrap, bootstrap-table and Vega from CDNs and fill their
 * tables (the index of validation results, the suite list) from inline JavaScript calls such
 * as $('#id').bootstrapTable({columns: [...], data: [...]}). Without network those calls fail
 * and the tables stay empty. This file implements the small subset of that API the pages
 * use, with no dependency, so the pages render fully from disk:
 *   $(fn), $(document).ready(fn), $(selector).bootstrapTable(options | method),
 *   .on('click-row.bs.table', handler), .prepend(html), .removeClass/.addClass, .data(key),
 *   .parent(), .fadeIn/.fadeOut (the "Failed Only" filter of validation pages);
 *   Bootstrap's data-toggle="tab" and data-toggle="collapse"; a stub for vegaEmbed.
 * Tables get a search box and sortable headers; all rows are shown (no pagination).
 */
(function () {
  "use strict";

  var readyQueue = [];
  var isReady = document.readyState !== "loading";
  if (!isReady) {
    document.addEventListener("DOMContentLoaded", function () {
      isReady = true;
      readyQueue.splice(0).forEach(function (fn) { fn.call(document); });
    });
  }
  function onReady(fn) { if (isReady) { fn.call(document); } else { readyQueue.push(fn); } }

  var handlers = new WeakMap();
  function handlersOf(el) {
    if (!handlers.has(el)) { handlers.set(el, {}); }
    return handlers.get(el);
  }

  function Wrapped(elements) {
    this.elements = elements;
    this.length = elements.length;
    for (var i = 0; i < elements.length; i++) { this[i] = elements[i]; }
  }

  Wrapped.prototype.each = function (fn) {
    this.elements.forEach(function (el, i) { fn.call(el, i, el); });
    return this;
  };
  Wrapped.prototype.ready = function (fn) { onReady(fn); return this; };
  Wrapped.prototype.on = function (name, fn) {
    return this.each(function (_, el) {
      var map = handlersOf(el);
      (map[name] = map[name] || []).push(fn);
      if (name.indexOf(".bs.") < 0 && name.indexOf(".") < 0) { el.addEventListener(name, fn); }
    });
  };
  Wrapped.prototype.trigger = function (name, args) {
    return this.each(function (_, el) {
      (handlersOf(el)[name] || []).forEach(function (fn) {
        fn.apply(el, [{ type: name, target: el }].concat(args || []));
      });
    });
  };
  Wrapped.prototype.prepend = function (html) {
    return this.each(function (_, el) { el.insertAdjacentHTML("afterbegin", html); });
  };
  Wrapped.prototype.addClass = function (c) {
    return this.each(function (_, el) { el.classList.add(c); });
  };
  Wrapped.prototype.removeClass = function (c) {
    return this.each(function (_, el) { el.classList.remove(c); });
  };
  Wrapped.prototype.data = function (key) {
    var el = this.elements[0];
    return el ? el.getAttribute("data-" + key) : undefined;
  };
  Wrapped.prototype.parent = function () {
    var parents = [];
    this.elements.forEach(function (el) {
      if (el.parentNode && parents.indexOf(el.parentNode) < 0) { parents.push(el.parentNode); }
    });
    return new Wrapped(parents);
  };
  Wrapped.prototype.show = Wrapped.prototype.fadeIn = function () {
    return this.each(function (_, el) { el.style.display = ""; });
  };
  Wrapped.prototype.hide = Wrapped.prototype.fadeOut = function () {
    return this.each(function (_, el) { el.style.display = "none"; });
  };
  Wrapped.prototype.tooltip = function () { return this; };
  Wrapped.prototype.popover = function () { return this; };
  Wrapped.prototype.alert = function () { return this; };
  Wrapped.prototype.bootstrapTable = function (options) {
    return this.each(function (_, el) {
      if (typeof options === "string") {
        if ((options === "resetSearch" || options === "clearFilterControl") && el._swTable) {
          el._swTable.search = "";
          if (el._swTable.input) { el._swTable.input.value = ""; }
          renderBody(el);
        }
        return;
      }
      buildTable(el, options || {});
    });
  };

  function $(arg) {
    if (typeof arg === "function") { onReady(arg); return new Wrapped([document]); }
    if (arg === document || arg === window) { return new Wrapped([arg]); }
    if (arg && arg.nodeType) { return new Wrapped([arg]); }
    if (typeof arg === "string") {
      try { return new Wrapped(Array.prototype.slice.call(document.querySelectorAll(arg))); }
      catch (e) { return new Wrapped([]); }
    }
    return new Wrapped([]);
  }
  $.fn = Wrapped.prototype;
  window.$ = window.jQuery = $;

  function fnByName(name) {
    if (typeof name === "function") { return name; }
    return typeof name === "string" && typeof window[name] === "function" ? window[name] : null;
  }
  function truthy(v) { return v === true || v === "true"; }
  function textOf(html) {
    var d = document.createElement("div");
    d.innerHTML = html == null ? "" : String(html);
    return (d.textContent || "").replace(/\s+/g, " ").trim();
  }

  function buildTable(table, options) {
    var columns = options.columns || [];
    var state = {
      options: options,
      columns: columns,
      data: (options.data || []).slice(),
      search: "",
      sortName: options.sortName || null,
      sortOrder: options.sortOrder || "asc",
      input: null
    };
    table._swTable = state;
    table.classList.add("table", "sw-table");
    table.innerHTML = "";
    var thead = document.createElement("thead");
    var tr = document.createElement("tr");
    columns.forEach(function (col) {
      var th = document.createElement("th");
      th.innerHTML = col.title || col.field || "";
      th.setAttribute("data-field", col.field || "");
      if (col.align) { th.style.textAlign = col.align; }
      if (truthy(col.sortable)) {
        th.classList.add("sw-sortable");
        th.addEventListener("click", function () {
          var key = col.field;
          if (state.sortName === key || state.sortName === col.sortName) {
            state.sortOrder = state.sortOrder === "asc" ? "desc" : "asc";
          } else {
            state.sortName = key;
            state.sortOrder = "asc";
          }
          renderBody(table);
        });
      }
      tr.appendChild(th);
    });
    thead.appendChild(tr);
    table.appendChild(thead);
    table.appendChild(document.createElement("tbody"));

    if (truthy(options.search)) {
      var holder = options.toolbar ? document.querySelector(options.toolbar) : null;
      var input = document.createElement("input");
      input.type = "search";
      input.placeholder = "Search";
      input.className = "sw-search";
      input.addEventListener("input", function () { state.search = input.value; renderBody(table); });
      state.input = input;
      if (holder) { holder.appendChild(input); } else { table.parentNode.insertBefore(input, table); }
    }
    renderBody(table);
  }

  function sortKey(state, row) {
    var name = state.sortName;
    if (!name) { return null; }
    var col = state.columns.filter(function (c) { return c.field === name || c.sortName === name; })[0];
    var field = col && col.sortName ? col.sortName : name;
    var value = row[field];
    if (value === undefined && col) { value = row[col.field]; }
    return typeof value === "number" ? value : textOf(value).toLowerCase();
  }

  function renderBody(table) {
    var state = table._swTable;
    var tbody = table.querySelector("tbody");
    var rows = state.data.map(function (row, i) { return { row: row, index: i }; });
    var needle = (state.search || "").toLowerCase();
    if (needle) {
      rows = rows.filter(function (r) {
        return state.columns.some(function (c) {
          return textOf(r.row[c.field]).toLowerCase().indexOf(needle) >= 0;
        });
      });
    }
    if (state.sortName) {
      var dir = state.sortOrder === "desc" ? -1 : 1;
      rows.sort(function (a, b) {
        var x = sortKey(state, a.row), y = sortKey(state, b.row);
        return x < y ? -dir : x > y ? dir : a.index - b.index;
      });
    }
    tbody.innerHTML = "";
    var rowAttributes = fnByName(state.options.rowAttributes);
    var rowStyle = fnByName(state.options.rowStyle);
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      if (rowAttributes) {
        var attrs = rowAttributes(r.row, r.index) || {};
        Object.keys(attrs).forEach(function (k) {
          if (attrs[k] !== undefined && attrs[k] !== null) { tr.setAttribute(k, attrs[k]); }
        });
      }
      if (rowStyle) {
        var style = (rowStyle(r.row, r.index) || {}).css || {};
        Object.keys(style).forEach(function (k) { tr.style[k] = style[k]; });
      }
      state.columns.forEach(function (col) {
        var td = document.createElement("td");
        var value = r.row[col.field];
        td.innerHTML = value === undefined || value === null ? "" : String(value);
        if (col.align) { td.style.textAlign = col.align; }
        tr.appendChild(td);
      });
      tr.addEventListener("click", function (e) {
        if (e.target.closest && e.target.closest("a")) { return; }
        $(table).trigger("click-row.bs.table", [r.row, new Wrapped([tr])]);
      });
      tbody.appendChild(tr);
    });
    if (!rows.length) {
      var empty = document.createElement("tr");
      empty.innerHTML = '<td colspan="' + Math.max(state.columns.length, 1) +
        '" class="sw-empty">No matching records found</td>';
      tbody.appendChild(empty);
    }
  }

  // Bootstrap's tabs and collapsibles, by event delegation.
  document.addEventListener("click", function (e) {
    var link = e.target.closest ? e.target.closest("[data-toggle]") : null;
    if (!link) { return; }
    var kind = link.getAttribute("data-toggle");
    var target = link.getAttribute("data-target") || link.getAttribute("href");
    if (kind === "tab" && target && target.charAt(0) === "#") {
      e.preventDefault();
      var nav = link.closest(".nav");
      if (nav) {
        Array.prototype.forEach.call(nav.querySelectorAll("[data-toggle='tab']"), function (a) {
          a.classList.remove("active");
          a.setAttribute("aria-selected", "false");
        });
      }
      link.classList.add("active");
      link.setAttribute("aria-selected", "true");
      var pane = document.getElementById(target.slice(1));
      if (pane && pane.parentNode) {
        Array.prototype.forEach.call(pane.parentNode.children, function (p) {
          p.classList.remove("active", "show");
        });
        pane.classList.add("active", "show");
      }
    } else if (kind === "collapse" && target && target.charAt(0) === "#") {
      e.preventDefault();
      var body = document.getElementById(target.slice(1));
      if (body) {
        body.classList.toggle("show");
        link.setAttribute("aria-expanded", body.classList.contains("show") ? "true" : "false");
      }
    }
  });

  // Charts need the Vega libraries from a CDN; offline the chart says so and the page goes on.
  window.vegaEmbed = function (selector) {
    var el = typeof selector === "string" ? document.querySelector(selector) : selector;
    if (el) {
      el.innerHTML = '<p class="sw-chart-offline">Chart not rendered offline ' +
        "(Vega is not bundled); the observed values are listed in the text.</p>";
    }
    return Promise.resolve({});
  };
  document.documentElement.setAttribute("data-sw-offline", "1");
})();
