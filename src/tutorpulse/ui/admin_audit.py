"""The audit log: an admin's searchable viewer with CSV export, and a tutor's or student's
"who viewed my data" page.

Both read through ``auth.audit`` (the same searches as ``/api/v1/admin/audit`` and
``/api/v1/me/audit``). Exporting the log is itself an audited action: the export's entry
(``audit.export``, with the filters and the row count) is committed before the file is sent.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import Request, Response
from nicegui import run, ui
from sqlalchemy.orm import Session

from tutorpulse.auth import audit, service
from tutorpulse.auth.deps import client_ip
from tutorpulse.auth.models import AuditEntry, User
from tutorpulse.auth.permissions import Permission
from tutorpulse.errors import TutorpulseError
from tutorpulse.ui.context import PageContext, empty_state, frame, page_context, pager

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000  # rows per CSV file: narrow the filters for more
CSV_FIELDS = (
    *("id", "at", "actor_user_id", "actor_label", "action"),
    *("target_type", "target_id", "ip", "details"),
)
COLUMNS = [
    {"name": "at", "label": "When", "field": "at", "align": "left"},
    {"name": "actor", "label": "Who", "field": "actor", "align": "left"},
    {"name": "action", "label": "Action", "field": "action", "align": "left"},
    {"name": "target", "label": "Record", "field": "target", "align": "left"},
    {"name": "ip", "label": "From", "field": "ip", "align": "left"},
    {"name": "details", "label": "Details", "field": "details", "align": "left"},
]
ACCESS_COLUMNS = [
    {"name": "at", "label": "When", "field": "at", "align": "left"},
    {"name": "who", "label": "Who", "field": "who", "align": "left"},
    {"name": "action", "label": "What", "field": "action", "align": "left"},
]


class FilterError(TutorpulseError):
    """A filter value that cannot be used; the message names the field."""


@dataclass
class AuditFilters:
    """The viewer's filter fields as typed; ``to_filter`` checks and converts them."""

    actor: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    since: str = ""  # YYYY-MM-DD, in the viewer's time zone
    until: str = ""  # inclusive day

    def to_filter(self, db: Session, *, tz: Any) -> audit.AuditFilter:
        actor_id: int | None = None
        actor = self.actor.strip()
        if actor:
            if actor.isdigit():
                actor_id = int(actor)
            else:
                user = service.get_user_by_email(db, email=actor)
                if user is None:
                    raise FilterError(f"Who: no account with email {actor!r}")
                actor_id = user.id
        for name in ("action", "target_type", "target_id"):
            if len(getattr(self, name).strip()) > 200:
                raise FilterError(f"{name.replace('_', ' ').capitalize()}: at most 200 characters")
        since = _day(self.since, "From", tz)
        until = _day(self.until, "To", tz)
        if since and until and until < since:
            raise FilterError("To: before From")
        return audit.AuditFilter(
            actor_user_id=actor_id,
            action=self.action.strip() or None,
            target_type=self.target_type.strip() or None,
            target_id=self.target_id.strip() or None,
            since=since,
            until=until + timedelta(days=1) if until else None,
        )


def _day(text: str, field: str, tz: Any) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise FilterError(f"{field}: {text!r} is not a date (YYYY-MM-DD)") from None
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheets run cells that start with these as formulas (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(entries: list[AuditEntry]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    for e in entries:
        details = ";".join(f"{k}={v}" for k, v in sorted((e.details or {}).items()))
        values: list[Any] = [e.id, e.at.isoformat(), e.actor_user_id, e.actor_label, e.action]
        values += [e.target_type, e.target_id, e.ip, details]
        writer.writerow([_cell(v) for v in values])
    return out.getvalue().encode()


def export_csv(
    db: Session,
    *,
    filters: audit.AuditFilter,
    actor: User,
    now: datetime,
    ip: str | None,
) -> tuple[bytes, int]:
    """The matching entries as CSV; the export is audited in the caller's transaction."""
    entries, total = audit.search(db, filters=filters, limit=EXPORT_LIMIT, offset=0)
    chosen = {
        k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(filters).items()
    }
    audit.record(
        db,
        actor=actor,
        action="audit.export",
        target_type="audit_log",
        ip=ip,
        details={
            "filters": {k: v for k, v in chosen.items() if v is not None},
            "rows": len(entries),
        },
        now=now,
    )
    return to_csv(entries), total


@dataclass(frozen=True)
class AuditListing:
    rows: list[dict[str, Any]]
    total: int
    page: int


class AuditViewer:
    def __init__(self, ctx: PageContext, ip: str | None) -> None:
        self.ctx = ctx
        self.ip = ip
        self.filters = AuditFilters()
        self.page = 1

    def _rows(self, entries: list[AuditEntry]) -> list[dict[str, Any]]:
        return [
            {
                "id": e.id,
                "at": self.ctx.fmt(e.at, "%d %b %Y %H:%M:%S"),
                "actor": e.actor_label,
                "action": e.action,
                "target": f"{e.target_type} {e.target_id}" if e.target_type else "—",
                "ip": e.ip or "—",
                "details": ", ".join(f"{k}: {v}" for k, v in sorted((e.details or {}).items())),
            }
            for e in entries
        ]

    def _load(self) -> AuditListing:
        with self.ctx.db() as db:
            chosen = self.filters.to_filter(db, tz=self.ctx.tz)
            entries, total = audit.search(
                db, filters=chosen, limit=PAGE_SIZE, offset=(self.page - 1) * PAGE_SIZE
            )
            return AuditListing(self._rows(entries), total, self.page)

    async def load(self, *, reset_page: bool = True) -> None:
        if reset_page:
            self.page = 1
        try:
            listing = await run.io_bound(self._load)
        except FilterError as exc:
            ui.notify(str(exc), type="negative")
            return
        if listing is not None:
            self.table.refresh(listing)

    async def go_to(self, page: int) -> None:
        self.page = max(1, page)
        await self.load(reset_page=False)

    async def export(self) -> None:
        def work() -> tuple[bytes, int]:
            # Checked again now (account, role, session): the page was checked when it loaded.
            with self.ctx.write(Permission.READ_AUDIT) as (db, _current):
                chosen = self.filters.to_filter(db, tz=self.ctx.tz)
                result = export_csv(
                    db, filters=chosen, actor=self.ctx.user, now=self.ctx.clock.now(), ip=self.ip
                )
                db.commit()  # the export's own entry is stored before the file leaves
                return result

        try:
            exported = await run.io_bound(work)
        except TutorpulseError as exc:
            ui.notify(str(exc), type="negative")
            return
        if exported is None:
            return
        content, total = exported
        stamp = self.ctx.clock.now().strftime("%Y%m%d-%H%M%S")
        ui.download(content, f"audit-{stamp}.csv", media_type="text/csv")
        if total > EXPORT_LIMIT:
            ui.notify(
                f"Exported the newest {EXPORT_LIMIT:,} of {total:,} entries: narrow the filters",
                type="warning",
            )
        await self.load(reset_page=False)

    def controls(self) -> None:
        f = self.filters

        def bind(label: str, attribute: str, width: str, hint: str = "") -> None:
            field = ui.input(label, on_change=lambda e: setattr(f, attribute, e.value or ""))
            field.props(f'clearable aria-label="{label}"').classes(width)
            if hint:
                field.props(f'hint="{hint}"')

        with ui.row().classes("w-full items-end gap-3"):
            bind("Who (email or user id)", "actor", "w-56")
            bind("Action", "action", "w-44", "exact, or prefix.* (auth.*)")
            bind("Record type", "target_type", "w-32")
            bind("Record id", "target_id", "w-32")
            bind("From (YYYY-MM-DD)", "since", "w-40")
            bind("To (YYYY-MM-DD)", "until", "w-40")
            ui.button("Search", icon="search", on_click=lambda: self.load())
            ui.button("Export CSV", icon="download", on_click=self.export).props("outline")

    @ui.refreshable_method
    def table(self, listing: AuditListing | None = None) -> None:
        if listing is None:
            ui.skeleton(type="rect", height="16rem").classes("w-full")
            return
        if not listing.rows:
            empty_state("No audit entry matches these filters.", "manage_search")
            return
        table = ui.table(columns=COLUMNS, rows=listing.rows, row_key="id").classes("w-full")
        table.props('flat bordered dense wrap-cells aria-label="Audit log" hide-pagination')
        table.props(':rows-per-page-options="[0]"')
        pager(
            page=listing.page,
            page_size=PAGE_SIZE,
            shown=len(listing.rows),
            total=listing.total,
            noun="entries",
            on_change=self.go_to,
        )


def register() -> None:
    @ui.page("/admin/audit")
    async def admin_audit(request: Request) -> Response | None:
        ctx = page_context(request, Permission.READ_AUDIT)
        if not isinstance(ctx, PageContext):
            return ctx
        frame(ctx, "Audit log")
        view = AuditViewer(ctx, client_ip(request))
        with ui.column().classes("w-full max-w-screen-xl mx-auto p-4 gap-3"):
            ui.label("Audit log").classes("text-2xl font-semibold").props(
                'role="heading" aria-level="1"'
            )
            ui.label(
                "Every sign-in, read of personal data, write, export and override; append-only, "
                "kept three years. Times are in your time zone."
            ).classes("text-sm tp-muted")
            view.controls()
            view.table()
        ui.timer(0.05, view.load, once=True)
        return None

    @ui.page("/me/audit")
    async def my_audit(request: Request) -> Response | None:
        ctx = page_context(request, Permission.READ_OWN_AUDIT)
        if not isinstance(ctx, PageContext):
            return ctx

        def load() -> list[dict[str, str]]:
            with ctx.db() as db:
                return [
                    {
                        "at": ctx.fmt(a.at),
                        "who": f"{a.viewer_name} ({a.viewer_role.replace('_', ' ')})",
                        "action": a.action,
                    }
                    for a in audit.accesses_by_others(db, user=ctx.user, limit=200)
                ]

        rows = await run.io_bound(load) or []
        frame(ctx, "Who viewed my data")
        with ui.column().classes("w-full max-w-screen-md mx-auto p-4 gap-3"):
            ui.label("Who viewed my data").classes("text-2xl font-semibold").props(
                'role="heading" aria-level="1"'
            )
            ui.label(
                "Every time someone else opened or changed your record: the newest 200. "
                "Your own visits are not listed."
            ).classes("text-sm tp-muted")
            if not rows:
                empty_state("Nobody else has viewed your data yet.", "visibility_off")
            else:
                table = ui.table(columns=ACCESS_COLUMNS, rows=rows).classes("w-full")
                table.props('flat bordered dense aria-label="Who viewed my data"')
        return None
