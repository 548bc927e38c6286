// アクセス履歴: who at the ward looked at or acted on this account, when and why. Every
// look-up by the help desk is recorded with its reason, and the resident can read them all.
import { dateTime, h, showError, t } from "/static/js/core.js";
import { errorBox, loadingLine, screen } from "./ui.js";

function line(item) {
  return h("li", { class: "access-item", dataset: { action: item.action } },
    h("div", { class: "spread" },
      h("strong", { class: "access-action" }, t(`app.access.action.${item.action}`)),
      h("time", { class: "muted", datetime: item.at }, dateTime(item.at))),
    h("p", { class: "access-reason" }, t("app.access.reason", { reason: item.reason })),
    h("p", { class: "muted access-who" }, t("app.access.who", { staff: item.staff, office: item.office })));
}

export async function render(root, app, scope) {
  const list = h("div", {}, loadingLine());
  const problem = errorBox("access-error");
  root.append(screen("app.access.title",
    h("div", { class: "card narrow-wide" },
      h("p", { class: "muted" }, t("app.access.lead")), problem, list)));
  try {
    const log = await app.api.get("/api/v1/wallet/access-log");
    if (scope.left) return;
    list.replaceChildren(log.items.length
      ? h("ul", { class: "access-list", id: "access-list" }, log.items.map(line))
      : h("p", { class: "empty", id: "access-empty" }, t("app.access.empty")));
  } catch (error) {
    if (scope.left) return;
    list.replaceChildren();
    showError(problem, error);
  }
}
