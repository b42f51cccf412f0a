/* Audience console: charts (uPlot), confirmations, and the segment rule builder with a live
   preview count. No build step; served as is. */
(function () {
  "use strict";

  function csrfToken() {
    return document.body.getAttribute("data-csrf") || "";
  }

  // --- charts -------------------------------------------------------------------------------
  function drawChart(el) {
    var data = JSON.parse(el.getAttribute("data-chart"));
    var xs = data.days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
    var names = Object.keys(data.series);
    var colors = ["#2563eb", "#16a34a", "#dc2626"];
    var opts = {
      width: Math.max(el.clientWidth, 240),
      height: 200,
      scales: { x: { time: true } },
      legend: { show: true },
      series: [{}].concat(names.map(function (name, i) {
        return { label: name, stroke: colors[i % colors.length], width: 2, fill: "rgba(37,99,235,0.08)" };
      })),
      axes: [{}, { size: 50 }],
    };
    el.innerHTML = "";
    var plot = new uPlot(opts, [xs].concat(names.map(function (n) { return data.series[n]; })), el);
    el.setAttribute("data-drawn", "true");
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(el.clientWidth, 240), height: 200 });
    });
  }

  // --- confirmations ------------------------------------------------------------------------
  function confirmForms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  // --- the rule builder ---------------------------------------------------------------------
  var NO_VALUE = { exists: 1, not_exists: 1 };
  var LIST_OPS = { "in": 1, not_in: 1 };

  function Builder(root, config, textarea, countEl, errorEl) {
    this.root = root;
    this.vocab = config.vocabulary;
    this.textarea = textarea;
    this.countEl = countEl;
    this.errorEl = errorEl;
    this.seq = 0;
    this.timer = null;
    this.state = this.fromRule(config.rule);
    this.render();
  }

  Builder.prototype.newGroup = function (mode) {
    return { kind: "group", mode: mode || "all", not: false, children: [] };
  };

  Builder.prototype.fromRule = function (r) {
    var self = this;
    if (!r || typeof r !== "object") return { kind: "raw", json: JSON.stringify(r) };
    if (Array.isArray(r.all) || Array.isArray(r.any)) {
      var mode = Array.isArray(r.all) ? "all" : "any";
      return { kind: "group", mode: mode, not: false, children: r[mode].map(function (c) { return self.fromRule(c); }) };
    }
    if (r.not !== undefined) {
      var inner = this.fromRule(r.not);
      if (inner.kind === "group" && !inner.not) { inner.not = true; return inner; }
      return { kind: "group", mode: "all", not: true, children: [inner] };
    }
    if (r.attribute !== undefined) return { kind: "attribute", name: r.attribute, op: r.op, value: r.value, days: r.days };
    if (r.customAttribute !== undefined) return { kind: "custom", name: r.customAttribute, op: r.op, value: r.value, days: r.days };
    if (r.tag !== undefined) return { kind: "tag", tag: r.tag };
    if (r.identified !== undefined) return { kind: "identified", value: !!r.identified };
    if (r.event !== undefined && !r.where) {
      var count = r.count || { gte: 1 };
      var op = Object.keys(count)[0] || "gte";
      return { kind: "event", name: r.event, countOp: op, count: count[op], days: r.within ? r.within.days : null };
    }
    if (r.installation && Array.isArray(r.installation.all) && r.installation.all.length === 1) {
      var c = r.installation.all[0];
      if (c.attribute !== undefined || c.customAttribute !== undefined) {
        return { kind: "installation", custom: c.customAttribute !== undefined, name: c.attribute || c.customAttribute, op: c.op, value: c.value, days: c.days };
      }
    }
    return { kind: "raw", json: JSON.stringify(r) };
  };

  Builder.prototype.typeOf = function (node) {
    if (node.kind === "attribute") return this.vocab.person[node.name] || "string";
    if (node.kind === "custom") return this.vocab.custom[node.name] || "string";
    if (node.kind === "installation") {
      return (node.custom ? this.vocab.installationCustom[node.name] : this.vocab.installation[node.name]) || "string";
    }
    return "string";
  };

  Builder.prototype.typed = function (type, raw) {
    if (type === "number") return raw === "" ? null : Number(raw);
    if (type === "boolean") return raw === "true";
    return raw;
  };

  Builder.prototype.comparison = function (node) {
    var type = this.typeOf(node);
    var out = { op: node.op };
    if (node.op === "within_last") out.days = Number(node.days || 0);
    else if (LIST_OPS[node.op]) {
      var self = this;
      var items = Array.isArray(node.value) ? node.value : String(node.value || "").split(",");
      out.value = items.map(function (v) { return self.typed(type, String(v).trim()); }).filter(function (v) { return v !== ""; });
    } else if (!NO_VALUE[node.op]) {
      out.value = typeof node.value === "string" ? this.typed(type, node.value) : node.value;
    }
    return out;
  };

  Builder.prototype.toRule = function (node) {
    var self = this;
    switch (node.kind) {
      case "group":
        var inner = {};
        inner[node.mode] = node.children.map(function (c) { return self.toRule(c); });
        return node.not ? { not: inner } : inner;
      case "attribute":
        return Object.assign({ attribute: node.name }, this.comparison(node));
      case "custom":
        return Object.assign({ customAttribute: node.name }, this.comparison(node));
      case "tag":
        return { tag: node.tag || "" };
      case "identified":
        return { identified: !!node.value };
      case "event":
        var rule = { event: node.name, count: {} };
        rule.count[node.countOp || "gte"] = Number(node.count === undefined || node.count === "" ? 1 : node.count);
        if (node.days) rule.within = { days: Number(node.days) };
        return rule;
      case "installation":
        var cond = node.custom ? { customAttribute: node.name } : { attribute: node.name };
        return { installation: { all: [Object.assign(cond, this.comparison(node))] } };
      default:
        try { return JSON.parse(node.json); } catch (e) { return node.json; }
    }
  };

  Builder.prototype.defaults = function (kind) {
    var firstKey = function (obj) { return Object.keys(obj)[0] || ""; };
    switch (kind) {
      case "attribute": return { kind: kind, name: "firstName", op: "eq", value: "" };
      case "custom": return { kind: kind, name: firstKey(this.vocab.custom), op: "eq", value: "" };
      case "tag": return { kind: kind, tag: "" };
      case "identified": return { kind: kind, value: true };
      case "event": return { kind: kind, name: firstKey(this.vocab.events), countOp: "gte", count: 1, days: null };
      case "installation": return { kind: kind, custom: false, name: "platform", op: "eq", value: "Android" };
      default: return this.newGroup("all");
    }
  };

  // DOM helpers
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") el.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) el.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) el.appendChild(c); });
    return el;
  }

  function select(label, options, current, onchange) {
    var s = h("select", { "aria-label": label, onchange: function () { onchange(s.value); } });
    options.forEach(function (o) {
      var value = Array.isArray(o) ? o[0] : o;
      var text = Array.isArray(o) ? o[1] : o;
      var opt = h("option", { value: value, text: text });
      if (String(value) === String(current)) opt.selected = true;
      s.appendChild(opt);
    });
    return s;
  }

  function input(label, value, oninput, type) {
    var i = h("input", { "aria-label": label, placeholder: label, type: type || "text", value: value === undefined || value === null ? "" : value });
    i.addEventListener("input", function () { oninput(i.value); });
    return i;
  }

  Builder.prototype.changed = function (structural) {
    if (structural) this.render();
    else this.sync();
  };

  Builder.prototype.sync = function () {
    var rule = this.toRule(this.state);
    this.textarea.value = JSON.stringify(rule);
    this.schedulePreview(rule);
  };

  Builder.prototype.render = function () {
    this.root.innerHTML = "";
    this.root.appendChild(this.renderGroup(this.state, null, 0));
    this.sync();
  };

  Builder.prototype.renderGroup = function (group, parent, depth) {
    var self = this;
    var list = h("ul", { "class": "rule-children" });
    group.children.forEach(function (child, index) {
      var remove = function () { group.children.splice(index, 1); self.changed(true); };
      list.appendChild(h("li", {}, [child.kind === "group"
        ? self.renderGroup(child, { remove: remove }, depth + 1)
        : self.renderCondition(child, remove)]));
    });
    var header = h("div", { "class": "rule-group-head" }, [
      h("label", { "class": "check" }, [
        (function () {
          var box = h("input", { type: "checkbox", onchange: function () { group.not = box.checked; self.changed(false); } });
          box.checked = group.not;
          return box;
        })(),
        document.createTextNode(" not"),
      ]),
      select("Match", [["all", "all of"], ["any", "any of"]], group.mode, function (v) { group.mode = v; self.changed(false); }),
    ]);
    var actions = h("div", { "class": "rule-actions" }, [
      h("button", { type: "button", text: "Add condition", onclick: function () { group.children.push(self.defaults("attribute")); self.changed(true); } }),
      depth < 9 ? h("button", { type: "button", text: "Add group", onclick: function () { group.children.push(self.newGroup("any")); self.changed(true); } }) : null,
      parent ? h("button", { type: "button", "class": "danger", text: "Remove group", onclick: parent.remove }) : null,
    ]);
    return h("fieldset", { "class": "rule-group", "data-depth": depth }, [h("legend", { text: depth ? "Group" : "Persons matching" }), header, list, actions]);
  };

  Builder.prototype.comparisonFields = function (node, names) {
    var self = this;
    var type = this.typeOf(node);
    var ops = this.vocab.ops[type] || ["eq"];
    if (ops.indexOf(node.op) < 0) node.op = ops.indexOf("eq") >= 0 ? "eq" : ops[0];
    var fields = [
      select("Field", names, node.name, function (v) { node.name = v; self.changed(true); }),
      select("Operator", ops, node.op, function (v) { node.op = v; self.changed(true); }),
    ];
    if (node.op === "within_last") {
      fields.push(input("Days", node.days || "", function (v) { node.days = v; self.changed(false); }, "number"));
    } else if (!NO_VALUE[node.op]) {
      if (type === "boolean") {
        if (typeof node.value !== "boolean") node.value = true;
        fields.push(select("Value", [["true", "true"], ["false", "false"]], String(node.value), function (v) { node.value = v === "true"; self.changed(false); }));
      } else {
        var shown = Array.isArray(node.value) ? node.value.join(", ") : node.value;
        var kind = LIST_OPS[node.op] ? "text" : ({ number: "number", date: "date" }[type] || "text");
        fields.push(input(LIST_OPS[node.op] ? "Values (comma separated)" : "Value", shown, function (v) { node.value = v; self.changed(false); }, kind));
      }
    }
    return fields;
  };

  Builder.prototype.renderCondition = function (node, remove) {
    var self = this;
    var kinds = [["attribute", "Attribute"], ["custom", "Custom attribute"], ["tag", "Tag"], ["identified", "Identified"],
      ["event", "Event"], ["installation", "Has a device"]];
    if (node.kind === "raw") kinds.push(["raw", "JSON"]);
    var fields = [select("Condition type", kinds, node.kind, function (v) {
      var fresh = self.defaults(v);
      Object.keys(node).forEach(function (k) { delete node[k]; });
      Object.assign(node, fresh);
      self.changed(true);
    })];
    if (node.kind === "attribute") fields = fields.concat(this.comparisonFields(node, Object.keys(this.vocab.person)));
    else if (node.kind === "custom") fields = fields.concat(this.comparisonFields(node, Object.keys(this.vocab.custom)));
    else if (node.kind === "tag") fields.push(input("Tag", node.tag, function (v) { node.tag = v; self.changed(false); }));
    else if (node.kind === "identified") fields.push(select("Identified", [["true", "is identified"], ["false", "is anonymous"]], String(node.value), function (v) { node.value = v === "true"; self.changed(false); }));
    else if (node.kind === "event") {
      fields.push(select("Event", Object.keys(this.vocab.events), node.name, function (v) { node.name = v; self.changed(false); }));
      fields.push(select("Count operator", this.vocab.countOps, node.countOp, function (v) { node.countOp = v; self.changed(false); }));
      fields.push(input("Count", node.count, function (v) { node.count = v; self.changed(false); }, "number"));
      fields.push(input("Within days (empty: ever)", node.days || "", function (v) { node.days = v; self.changed(false); }, "number"));
    } else if (node.kind === "installation") {
      var names = Object.keys(this.vocab.installation).map(function (n) { return ["a:" + n, n]; })
        .concat(Object.keys(this.vocab.installationCustom).map(function (n) { return ["c:" + n, n + " (custom)"]; }));
      var comparison = this.comparisonFields(node, []);
      comparison[0] = select("Device field", names, (node.custom ? "c:" : "a:") + node.name, function (v) {
        node.custom = v.slice(0, 2) === "c:"; node.name = v.slice(2); self.changed(true);
      });
      fields = fields.concat(comparison);
    } else if (node.kind === "raw") {
      fields.push(input("Condition JSON", node.json, function (v) { node.json = v; self.changed(false); }));
    }
    fields.push(h("button", { type: "button", "class": "danger", text: "Remove", "aria-label": "Remove condition", onclick: remove }));
    return h("div", { "class": "rule-condition", role: "group", "aria-label": "Condition" }, fields);
  };

  Builder.prototype.schedulePreview = function (rule) {
    var self = this;
    clearTimeout(this.timer);
    this.countEl.parentNode.setAttribute("data-state", "pending");
    this.timer = setTimeout(function () { self.preview(rule); }, 250);
  };

  Builder.prototype.preview = function (rule) {
    var self = this;
    var seq = ++this.seq;
    fetch("/console/segments/preview", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify({ rule: rule }),
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (seq !== self.seq) return;
      if (result.ok) {
        self.countEl.textContent = String(result.body.count);
        self.errorEl.textContent = "";
      } else {
        self.countEl.textContent = "–";
        self.errorEl.textContent = result.body.error ? result.body.error.message : "Preview failed";
      }
      self.countEl.parentNode.setAttribute("data-state", "ready");
    }).catch(function () {
      if (seq === self.seq) self.errorEl.textContent = "Preview failed";
    });
  };

  function startBuilder() {
    var root = document.getElementById("builder");
    if (!root) return;
    var textarea = document.getElementById("rule-json");
    var builder = new Builder(root, JSON.parse(root.getAttribute("data-builder")), textarea,
      document.getElementById("preview-count"), document.getElementById("preview-error"));
    textarea.addEventListener("change", function () {
      try {
        builder.state = builder.fromRule(JSON.parse(textarea.value));
        if (builder.state.kind !== "group") builder.state = { kind: "group", mode: "all", not: false, children: [builder.state] };
        builder.render();
      } catch (e) {
        builder.errorEl.textContent = "The JSON does not parse";
      }
    });
    window.audienceBuilder = builder;
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-chart]").forEach(drawChart);
    confirmForms();
    startBuilder();
  });
})();
