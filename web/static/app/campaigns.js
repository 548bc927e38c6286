// キャンペーン: what runs now, where, until when, and how much of my cap is left.
import { h, t } from "/static/js/core.js";
import { campaignCard } from "/static/js/shops.js";
import { screen } from "./ui.js";

export async function render(root, app, scope) {
  const answer = await app.api.get("/api/v1/campaigns/current");
  if (scope.left) return;
  const body = answer.items.length
    ? h("ul", { class: "campaign-list", id: "campaign-list" },
      answer.items.map((c) => campaignCard(c, { shopsHref: `#/shops/${c.id}` })))
    : h("p", { class: "card empty", id: "campaign-empty" }, t("campaigns.none"));
  root.append(screen("app.campaigns.title",
    h("p", { class: "muted" }, t("campaigns.lead")), body,
    h("a", { class: "btn btn-block", href: "#/shops", id: "go-shops" }, t("app.shops.title"))));
}
