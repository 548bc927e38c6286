// The wallet's history, newest first, loading the next page as the list's end scrolls in.
import { h, showError, t } from "/static/js/core.js";
import { errorBox, screen, transactionItem } from "./ui.js";

const PAGE_SIZE = 20;

export function render(root, app, scope) {
  const list = h("ul", { class: "tx-list", id: "history-list", "aria-busy": "true" });
  const status = h("p", { id: "history-status", class: "muted history-status", role: "status" }, t("state.loading"));
  const problem = errorBox("history-error");
  const retry = h("button", { class: "btn btn-secondary", type: "button", hidden: true }, t("action.retry"));
  const sentinel = h("div", { id: "history-sentinel", class: "sentinel", "aria-hidden": "true" });
  root.append(screen("app.history.title", h("div", { class: "card narrow-wide" }, list, problem, retry, status, sentinel)));

  let cursor = null;
  let done = false;
  let loading = false;

  async function loadMore() {
    if (loading || done || scope.left) return;
    loading = true;
    retry.hidden = true;
    problem.hidden = true;
    status.textContent = t("state.loading");
    list.setAttribute("aria-busy", "true");
    try {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (cursor) query.set("cursor", cursor);
      const page = await app.api.get(`/api/v1/wallet/transactions?${query}`);
      if (scope.left) return;
      list.append(...page.items.map(transactionItem));
      cursor = page.next_cursor;
      done = !cursor;
      status.textContent = done
        ? (list.children.length ? t("app.history.end") : t("app.history.empty"))
        : t("app.history.more", { count: list.children.length });
    } catch (error) {
      if (scope.left) return;
      showError(problem, error);
      status.textContent = "";
      retry.hidden = false;
    } finally {
      loading = false;
      list.setAttribute("aria-busy", "false");
    }
    // A tall screen may show the end of a short first page at once: keep filling it.
    if (!done && retry.hidden && !scope.left && isVisible(sentinel)) loadMore();
  }

  retry.addEventListener("click", loadMore);
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) loadMore();
  }, { rootMargin: "0px 0px 300px 0px" });
  observer.observe(sentinel);
  scope.onLeave(() => observer.disconnect());
  return loadMore();
}

function isVisible(element) {
  const box = element.getBoundingClientRect();
  return box.top < window.innerHeight + 300;
}
