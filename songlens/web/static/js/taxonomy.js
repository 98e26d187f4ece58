// The five tag dimensions with their Chinese and English labels, from GET /v1/taxonomy (loaded
// once per page load).
import { api } from "./api.js";
import { bi, h } from "./dom.js";

let loaded = null;

export function taxonomy() {
  if (!loaded) {
    loaded = api("/v1/taxonomy").then((t) => {
      const en = new Map();
      for (const d of t.dimensions) for (const tag of d.tags) en.set(`${d.key}/${tag.tag}`, tag.en);
      return { dimensions: t.dimensions, en };
    }).catch((e) => { loaded = null; throw e; });
  }
  return loaded;
}

/** Label of a dimension key (language → 语种 Language). */
export function dimLabel(tax, key) {
  const d = tax.dimensions.find((x) => x.key === key);
  return d ? bi(d.zh, d.en) : bi(key, key);
}

/** A tag chip: 摇滚 Rock, with an optional score. */
export function tagChip(tax, dim, tag, { score, en } = {}) {
  const english = en || (tax ? tax.en.get(`${dim}/${tag}`) : "") || "";
  return h("span", { class: `chip dim-${dim}`, title: score !== undefined
                     ? `${tag} ${english}: ${Math.round(score * 100)}%` : `${tag} ${english}` },
           h("span", { lang: "zh" }, tag),
           english && english !== tag ? h("span", { lang: "en" }, english) : null,
           score !== undefined ? h("span", { class: "score" }, Math.round(score * 100)) : null);
}

/** Tag pickers, one group per dimension: returns {el, value(): {dim: [tags]}, set(obj)}. */
export function tagPicker(tax, { name, dims, open } = {}) {
  const boxes = [];
  const el = h("div", { class: "tag-picker" });
  for (const d of tax.dimensions) {
    if (dims && !dims.includes(d.key)) continue;
    const group = h("details", { class: `dim dim-${d.key}`, open: open && open.includes(d.key) },
                    h("summary", {}, bi(d.zh, d.en)));
    for (const t of d.tags) {
      const box = h("input", { type: "checkbox", value: t.tag, dataset: { dim: d.key },
                               name: `${name}-${d.key}` });
      boxes.push(box);
      group.append(h("label", { class: "pick" }, box, h("span", { lang: "zh" }, t.tag),
                     t.en !== t.tag ? h("span", { lang: "en" }, t.en) : null));
    }
    el.append(group);
  }
  return {
    el,
    value() {
      const out = {};
      for (const b of boxes) if (b.checked) (out[b.dataset.dim] ||= []).push(b.value);
      return out;
    },
    clear() { for (const b of boxes) b.checked = false; },
  };
}
