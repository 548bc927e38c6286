// お店をさがす: the ward's shop directory inside the app (#/shops, or #/shops/<campaign id>
// from the campaigns screen: that campaign's shops).
import { h, t } from "/static/js/core.js";
import { mountDirectory } from "/static/js/shops.js";
import { screen } from "./ui.js";

export async function render(root, app, scope) {
  const wanted = location.hash.split("/")[2] || "";
  const campaign = /^[1-9]\d{0,17}$/.test(wanted) ? wanted : null;
  const directory = h("div", { class: "directory" });
  root.append(screen("app.shops.title",
    h("p", { class: "muted" }, t("shops.lead"), " ", h("a", { href: "#/campaigns", id: "go-campaigns" }, t("app.campaigns.link"))),
    directory));
  await mountDirectory(directory, { api: app.api, campaign, scope });
}
