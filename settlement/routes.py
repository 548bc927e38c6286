"""Settlement statements for shops, and the operator's settlement runs and payouts.

Shops (owner and staff) read their own statements; the operator runs settlements, makes
the Zengin file for the bank and imports the bank's result (a second operator confirms it).
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from machipay.auth import AccessClaims, Role, require_roles
from machipay.deps import AppSettings, DbSession
from machipay.downloads import csv_attachment
from machipay.errors import ValidationFailed
from machipay.schemas import Id
from machipay.timeutil import to_tokyo, utcnow
from settlement import payouts, result_imports, service
from settlement.models import Payout, PayoutFile, PayoutResultImport, Settlement
from settlement.schemas import (
    HeldPayoutOut,
    PayoutFileIn,
    PayoutFileOut,
    PayoutOut,
    PayoutPage,
    PayoutResultImportOut,
    PayoutResultsOut,
    SettlementDetailOut,
    SettlementOut,
    SettlementPage,
    SettlementRunIn,
    SettlementRunOut,
    StatementLineOut,
)
from settlement.tasks import run_settlement

router = APIRouter(prefix="/api/v1", tags=["settlements"])

MerchantCaller = Annotated[
    AccessClaims, Depends(require_roles(Role.MERCHANT_OWNER, Role.MERCHANT_STAFF))
]
Operator = Annotated[AccessClaims, Depends(require_roles(Role.OPERATOR))]
MAX_RESULT_BYTES = 5_000_000


def payout_out(payout: Payout) -> PayoutOut:
    return PayoutOut(
        id=payout.id,
        merchant_id=payout.merchant_id,
        resident_id=payout.resident_id,
        amount=payout.amount,
        status=payout.status,
        file_id=payout.file_id,
        created_at=to_tokyo(payout.created_at),
        sent_at=to_tokyo(payout.sent_at) if payout.sent_at else None,
        resolved_at=to_tokyo(payout.resolved_at) if payout.resolved_at else None,
        failure_reason=payout.failure_reason,
    )


def _fields(statement: Settlement, payout: Payout | None) -> dict[str, object]:
    return {
        "id": statement.id,
        "closing_date": statement.closing_date,
        "schedule": statement.schedule,
        "period_start": to_tokyo(statement.period_start) if statement.period_start else None,
        "period_end": to_tokyo(statement.period_end),
        "status": statement.status,
        "payments": statement.payments,
        "gross_sales": statement.gross_sales,
        "refund_count": statement.refund_count,
        "refunds": statement.refunds,
        "campaign_cashback": statement.campaign_cashback,
        "adjustments": statement.adjustments,
        "total": statement.total,
        "fees": statement.fees,
        "net_payout": statement.net_payout,
        "payout": payout_out(payout) if payout else None,
    }


@router.get("/merchant/settlements", response_model=SettlementPage)
async def statements(
    caller: MerchantCaller,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
    cursor: Id | None = None,
) -> SettlementPage:
    """The shop's settlement statements and their payouts, newest first."""
    rows = await service.statements_of(
        session, caller.merchant_id or 0, limit=limit + 1, before=cursor
    )
    page = rows[:limit]
    return SettlementPage(
        items=[SettlementOut.model_validate(_fields(s, p)) for s, p in page],
        next_cursor=page[-1][0].id if len(rows) > limit else None,
    )


async def _detail(session: DbSession, merchant_id: int, settlement_id: int) -> SettlementDetailOut:
    statement, payout = await service.statement_of(session, merchant_id, settlement_id)
    lines = await service.statement_lines(session, statement)
    return SettlementDetailOut.model_validate(
        {
            **_fields(statement, payout),
            "lines": [
                StatementLineOut(
                    kind=line.kind,
                    id=line.reference,
                    payment_id=line.payment_reference,
                    amount=line.amount,
                    points=line.points,
                    money=line.money,
                    created_at=to_tokyo(line.created_at),
                )
                for line in lines
            ],
        }
    )


@router.get("/merchant/settlements/{settlement_id}", response_model=SettlementDetailOut)
async def statement(
    settlement_id: Id, caller: MerchantCaller, session: DbSession
) -> SettlementDetailOut:
    """One statement with every payment and refund it covers."""
    return await _detail(session, caller.merchant_id or 0, settlement_id)


@router.get("/merchant/settlements/{settlement_id}/csv", response_class=Response)
async def statement_csv(settlement_id: Id, caller: MerchantCaller, session: DbSession) -> Response:
    """The statement as CSV, UTF-8 with a BOM so that Excel in Japan opens it as it is."""
    detail = await _detail(session, caller.merchant_id or 0, settlement_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["精算ID", detail.id, "締め日", detail.closing_date.isoformat()])
    writer.writerow(["日時", "種別", "ID", "支払ID", "金額", "ポイント", "残高"])
    for line in detail.lines:
        sign = 1 if line.kind == "payment" else -1
        writer.writerow(
            [
                line.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                "支払" if line.kind == "payment" else "返金",
                line.id,
                line.payment_id,
                sign * line.amount,
                sign * line.points,
                sign * line.money,
            ]
        )
    for label, value in (
        ("売上", detail.gross_sales),
        ("返金", -detail.refunds),
        ("キャンペーン還元", detail.campaign_cashback),
        ("調整", detail.adjustments),
        ("手数料", -detail.fees),
        ("振込額", detail.net_payout),
    ):
        writer.writerow([label, "", "", "", value, "", ""])
    if detail.payout is not None:
        writer.writerow(["振込状況", detail.payout.status, "", "", detail.payout.amount, "", ""])
    return csv_attachment(
        buffer.getvalue(), f"machipay-settlement-{detail.closing_date}-{detail.id}.csv"
    )


# -- operator ------------------------------------------------------------------------------


@router.post("/settlements/run", response_model=SettlementRunOut)
async def run(
    body: SettlementRunIn, _caller: Operator, request: Request, settings: AppSettings
) -> SettlementRunOut:
    """Settle every shop as of a date (one transaction per shop; safe to re-run)."""
    if body.as_of >= to_tokyo(utcnow()).date():
        raise ValidationFailed("as_of must be a day that is over (yesterday or earlier).")
    result = await run_settlement(request.app.state.sessionmaker, settings, body.as_of)
    return SettlementRunOut.model_validate(result.as_dict())


@router.get("/payouts", response_model=PayoutPage)
async def list_payouts(
    _caller: Operator,
    session: DbSession,
    status: Annotated[Literal["pending", "sent", "paid", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Id | None = None,
) -> PayoutPage:
    rows = await payouts.list_payouts(session, status=status, limit=limit + 1, before=cursor)
    page = rows[:limit]
    return PayoutPage(
        items=[payout_out(p) for p in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


@router.post("/payout-files", status_code=201, response_model=PayoutFileOut)
async def create_payout_file(
    body: PayoutFileIn, caller: Operator, session: DbSession, settings: AppSettings
) -> PayoutFileOut | Response:
    """Put every pending payout into a new Zengin file (204 when none is pending). A payout
    whose bank details cannot be written stays pending and is listed in ``held`` with the
    reason; the others go out. If none can, 422 ``payouts-held`` lists them."""
    transfer_date = body.transfer_date or payouts.next_weekday(to_tokyo(utcnow()).date())
    made = await payouts.create_payout_file(
        session, settings, transfer_date=transfer_date, actor_id=caller.user_id
    )
    if made is None:
        return Response(status_code=204)
    return _file_out(made.file, made.held)


def _file_out(made: PayoutFile, held: list[payouts.HeldPayout]) -> PayoutFileOut:
    return PayoutFileOut(
        id=made.id,
        transfer_date=made.transfer_date,
        count=made.count,
        total=made.total,
        sha256=made.sha256,
        created_at=to_tokyo(made.created_at),
        download=f"/api/v1/payout-files/{made.id}/zengin",
        held=[HeldPayoutOut.model_validate(h.as_dict()) for h in held],
    )


@router.get("/payout-files/{file_id}/zengin", response_class=Response)
async def download_payout_file(file_id: Id, _caller: Operator, session: DbSession) -> Response:
    """The file exactly as first written (Shift_JIS, 120-byte records, CRLF)."""
    made = await payouts.payout_file(session, file_id)
    return Response(
        made.content,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": (
                f'attachment; filename="zengin-{made.transfer_date:%Y%m%d}-{made.id}.txt"'
            )
        },
    )


def _results_out(record: PayoutResultImport, summary: payouts.ResultSummary) -> PayoutResultsOut:
    return PayoutResultsOut(
        import_id=record.id,
        status=record.status,
        paid=summary.paid,
        failed=summary.failed,
        unchanged=summary.unchanged,
        paid_amount=summary.paid_amount,
        failed_amount=summary.failed_amount,
    )


@router.post("/payouts/results", response_model=PayoutResultsOut)
async def import_results(
    caller: Operator, session: DbSession, request: Request
) -> PayoutResultsOut:
    """The bank's result as CSV (``payout_id,result,reason``), recorded as a pending import
    with what it would do: nothing moves until another operator confirms it (POST
    /payouts/results/{id}/confirm). A file with any bad answer is refused whole."""
    raw = await request.body()
    if len(raw) > MAX_RESULT_BYTES:
        raise ValidationFailed("The result file is too large.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("The result file must be UTF-8 CSV.") from None
    record, summary = await result_imports.import_results(session, text, actor_id=caller.user_id)
    return _results_out(record, summary)


@router.post("/payouts/results/{import_id}/confirm", response_model=PayoutResultsOut)
async def confirm_results(
    import_id: Annotated[int, Path(ge=1, le=2**63 - 1)], caller: Operator, session: DbSession
) -> PayoutResultsOut:
    """A second operator applies an import, all or nothing (the importer gets 403)."""
    record, summary = await result_imports.confirm_results(
        session, import_id, actor_id=caller.user_id
    )
    return _results_out(record, summary)


@router.get("/payouts/results", response_model=list[PayoutResultImportOut])
async def list_result_imports(
    _caller: Operator,
    session: DbSession,
    status: Annotated[Literal["pending", "confirmed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[PayoutResultImportOut]:
    """Result imports, newest first: the pending ones wait for a second operator."""
    return [
        PayoutResultImportOut(
            id=r.id,
            status=r.status,
            results=len(r.outcomes),
            sha256=r.sha256,
            imported_by=r.imported_by,
            imported_at=to_tokyo(r.imported_at),
            confirmed_by=r.confirmed_by,
            confirmed_at=to_tokyo(r.confirmed_at) if r.confirmed_at else None,
        )
        for r in await result_imports.list_imports(session, status=status, limit=limit)
    ]
