// The public directory page (/shops): no account, no token; what runs now, then the shops.
import { createApi, h, showError, t } from "/static/js/core.js";
import { campaignCard, mountDirectory } from "/static/js/shops.js";

const api = createApi("public");
const current = document.getElementById("current-campaigns");

api.get("/api/v1/campaigns/current", { auth: false }).then((answer) => {
  current.replaceChildren(answer.items.length
    ? h("ul", { class: "campaign-list", id: "campaign-list" }, answer.items.map((c) => campaignCard(c)))
    : h("p", { class: "empty", id: "campaign-empty" }, t("campaigns.none")));
}).catch((error) => {
  const problem = h("div");
  current.replaceChildren(problem);
  showError(problem, error);
});

mountDirectory(document.getElementById("directory"), { api }).catch((error) => {
  const problem = h("div");
  document.getElementById("directory").append(problem);
  showError(problem, error);
});
