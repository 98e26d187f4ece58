// A listener's profile as GET /v1/users/{id} gives it: event counts, top tags per dimension,
// interests (share, tags, closest liked songs), languages and artists.
import { bi, fmtPct, h } from "../dom.js";
import { dimLabel, tagChip } from "../taxonomy.js";

export function profileView(tax, p) {
  const ev = p.events || {};
  const tops = Object.entries(p.top_tags || {}).filter(([, tags]) => tags.length);
  const named = (items) => (items || []).map((x) => h("span", { class: "chip kw" }, x.name));
  return h("div", { class: "profile-grid", dataset: { userId: p.user_id } },
    h("div", { class: "counts" }, h("h3", {}, bi("收听记录", "Listening")),
      h("p", {}, bi("事件", "events"), ` ${ev.logged ?? 0} · `, bi("正向", "positive"),
        ` ${ev.positive ?? 0} · `, bi("负向", "negative"), ` ${ev.negative ?? 0}`),
      Object.keys(ev.by_type || {}).length
        ? h("p", { class: "muted" }, Object.entries(ev.by_type).map(([k, n]) => `${k} ${n}`).join(" · "))
        : null,
      Object.keys(p.onboarding_tags || {}).length
        ? h("p", {}, bi("入门选择", "Onboarding"), " ",
            Object.entries(p.onboarding_tags).map(([d, ts]) => ts.map((t) => tagChip(tax, d, t))))
        : null),
    h("div", { class: "top-tags" }, h("h3", {}, bi("偏好的标签", "Top tags")),
      tops.length ? tops.map(([dim, tags]) => h("p", {}, dimLabel(tax, dim), " ",
        tags.slice(0, 4).map((t) => tagChip(tax, dim, t.tag, { en: t.en }))))
        : h("p", { class: "muted" }, bi("还没有", "none yet"))),
    h("div", { class: "interests" }, h("h3", {}, bi("兴趣", "Interests")),
      (p.interests || []).length ? h("ol", {}, p.interests.map((it) => h("li", {},
        h("strong", {}, fmtPct(it.share)), " ",
        Object.entries(it.top_tags || {}).map(([d, ts]) => ts.slice(0, 2).map((t) => tagChip(tax, d, t))),
        it.songs.length ? h("span", { class: "muted" }, ` ← ${it.songs.slice(0, 3).join(", ")}`) : null)))
        : h("p", { class: "muted" }, bi("还没有", "none yet"))),
    h("div", { class: "langs" }, h("h3", {}, bi("语种与艺人", "Languages and artists")),
      h("p", {}, named(p.languages)), h("p", {}, named(p.artists))));
}
