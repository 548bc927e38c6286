// Home: money and points (with the next expiry), how to top up, recent lines, ward notices.
import { dateOnly, dateTime, h, number, showError, t, yen } from "/static/js/core.js";
import { errorBox, loadingLine, screen, transactionItem } from "./ui.js";

// A benefit from the ward (給付) is announced on the home screen for 30 days.
function benefitNotices(wallet) {
  const received = wallet.benefits_received || [];
  if (!received.length) return null;
  return h("div", { id: "benefits-received" }, received.map((b) =>
    h("p", { class: "alert alert-ok benefit-received", role: "status" },
      h("strong", {}, t("app.home.benefit_received", { points: number(b.points) })),
      " ", h("span", {}, t("app.home.benefit_detail", { name: b.name, date: dateOnly(b.granted_at) })))));
}

function balanceCard(wallet) {
  const nextLot = wallet.points_lots[0];
  return h("div", {}, benefitNotices(wallet), h("section", { class: "balance-card", "aria-labelledby": "balance-title" },
    h("h2", { id: "balance-title", class: "balance-label" }, t("app.home.money")),
    h("p", { class: "balance-money", id: "balance-money" }, yen(wallet.money)),
    h("dl", { class: "balance-points" },
      h("div", {},
        h("dt", {}, t("app.home.points")),
        h("dd", { id: "balance-points" }, `${number(wallet.points)} ${t("app.points.unit")}`)),
      h("div", {},
        h("dt", {}, t("app.home.next_expiry")),
        h("dd", { id: "points-expiry" }, nextLot
          ? t("app.home.expiry_line", { date: dateOnly(nextLot.expires_at), points: number(nextLot.amount) })
          : t("app.home.no_expiry")))),
    wallet.points_expiring_soon > 0
      ? h("p", { class: "expiring-soon", role: "note" },
        t("app.home.expiring_soon", { points: number(wallet.points_expiring_soon) }))
      : null,
    h("div", { class: "balance-actions" },
      h("a", { class: "btn btn-light", href: "#/scan" }, t("app.nav.scan")),
      h("a", { class: "btn btn-light", href: "#/code" }, t("app.home.show_code")),
      h("a", { class: "btn btn-light balance-charge", href: "#/charge", id: "balance-charge" }, t("app.charge.short")))));
}

function topUpCard(wallet) {
  return h("section", { class: "card topup", "aria-labelledby": "topup-title" },
    h("h2", { id: "topup-title" }, t("app.topup.title")),
    h("p", {}, t("app.topup.lead")),
    h("a", { class: "btn btn-block", href: "#/charge", id: "go-charge" }, t("app.topup.open")),
    h("p", { class: "muted small" }, t("app.topup.note", { cap: yen(wallet.limits.balance_cap) })));
}

function recentCard(page) {
  const body = page.items.length
    ? h("ul", { class: "tx-list", id: "recent-transactions" }, page.items.map(transactionItem))
    : h("p", { class: "empty" }, t("app.history.empty"));
  return h("section", { class: "card", "aria-labelledby": "recent-title" },
    h("div", { class: "spread" },
      h("h2", { id: "recent-title" }, t("app.home.recent")),
      h("a", { href: "#/history" }, t("app.home.all_history"))),
    body);
}

function noticesCard(notices) {
  const body = notices.length
    ? h("ul", { class: "notices", id: "notices" }, notices.map((n) =>
      h("li", {},
        h("details", {},
          h("summary", {}, h("span", { class: "notice-title" }, n.title),
            h("time", { class: "muted", datetime: n.published_at }, dateTime(n.published_at))),
          h("p", { class: "notice-body" }, n.body)))))
    : h("p", { class: "empty" }, t("app.notices.empty"));
  return h("section", { class: "card", "aria-labelledby": "notices-title" },
    h("h2", { id: "notices-title" }, t("app.notices.title")), body);
}

/** What runs now and where to pay: the campaigns screen and the directory. */
function campaignsCard() {
  return h("section", { class: "card", "aria-labelledby": "campaigns-title" },
    h("h2", { id: "campaigns-title" }, t("app.home.campaigns")),
    h("p", { class: "muted" }, t("app.home.campaigns_text")),
    h("div", { class: "balance-actions" },
      h("a", { class: "btn btn-sm", href: "#/campaigns", id: "home-campaigns" }, t("app.campaigns.title")),
      h("a", { class: "btn btn-sm btn-secondary", href: "#/shops", id: "home-shops" }, t("app.shops.title"))));
}

/** Settings and privacy: the access history is one tap away from home. */
function accountCard() {
  return h("section", { class: "card", "aria-labelledby": "account-title" },
    h("h2", { id: "account-title" }, t("app.home.account")),
    h("ul", { class: "link-list" },
      h("li", {}, h("a", { href: "#/access", id: "access-link" }, t("app.access.title")),
        h("p", { class: "muted" }, t("app.access.teaser")))));
}

/** A section that loads on its own: its failure does not blank the rest of the screen. */
function slot(promise, build, scope) {
  const box = h("div", {}, loadingLine());
  promise.then((data) => { if (!scope.left) box.replaceChildren(build(data)); })
    .catch((error) => {
      if (scope.left) return;
      const problem = errorBox();
      box.replaceChildren(h("div", { class: "card" }, problem));
      showError(problem, error);
    });
  return box;
}

/** Until the phone is verified the wallet can neither pay nor receive: say so, first. */
function verificationBanner(wallet) {
  if (wallet.verification !== "pending") return h("div", { hidden: true });
  return h("section", { class: "alert alert-info verify-banner", id: "verify-banner", role: "status" },
    h("p", {}, t("app.verify.banner")),
    h("a", { class: "btn btn-sm", href: "#/verify", id: "go-verify" }, t("app.verify.banner_action")));
}

export function render(root, app, scope) {
  const wallet = app.api.get("/api/v1/wallet");
  root.append(slot(wallet, verificationBanner, scope));
  root.append(screen("app.home.title",
    h("div", { class: "home-grid" },
      h("div", { class: "home-main" },
        slot(wallet, balanceCard, scope),
        slot(app.api.get("/api/v1/wallet/transactions?limit=5"), recentCard, scope)),
      h("div", { class: "home-side" },
        slot(wallet, topUpCard, scope),
        campaignsCard(),
        slot(app.api.get("/api/v1/wallet/notices?limit=5"), noticesCard, scope),
        accountCard()))));
  root.querySelector("#screen-title").classList.add("visually-hidden");
  return Promise.allSettled([wallet]);
}
