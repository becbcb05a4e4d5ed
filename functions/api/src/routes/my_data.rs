//! "Your data, your control": the account's status, the export of everything we hold, and
//! erasing it. The work is in `karaoke_shared::account`.

use lambda_http::http::StatusCode;
use serde_json::{json, Value};

use karaoke_shared::account::erase::{self, EraseOutcome, EraseStatus};
use karaoke_shared::account::export;
use karaoke_shared::account::AccountError;
use karaoke_shared::clock::rfc3339;

use crate::app::{App, Call, Reply};
use crate::error::ApiError;

pub const DEFAULT_EXPORT_LIMIT: u32 = 500;
/// DynamoDB ends a page at 1 MB anyway; this bounds the item count of a page of tiny items.
pub const MAX_EXPORT_LIMIT: u32 = 1000;

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::InvalidCursor => ApiError::bad(
                "invalid_cursor",
                "cursor is not valid for this account's export",
            ),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub fn export_limit(raw: Option<&str>) -> Result<u32, ApiError> {
    match raw {
        None => Ok(DEFAULT_EXPORT_LIMIT),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_EXPORT_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_EXPORT_LIMIT}"),
                )
            }),
    }
}

fn deleting_view(status: &EraseStatus) -> Value {
    json!({
        "status": status.status,
        "requested_at": rfc3339(status.requested_at),
        "items_deleted": status.items_deleted,
    })
}

/// While an erase runs, every other per-user route answers 409 with its progress: reading a
/// half-deleted library would mislead, and writing to it would race the erase.
pub async fn refuse_while_erasing(app: &App, user_id: &str) -> Result<(), ApiError> {
    match erase::erase_status(&app.ctx.store, user_id).await? {
        None => Ok(()),
        Some(status) => Err(ApiError::Conflict {
            code: "account_deleting",
            message: "this account's data is being deleted".into(),
            extra: json!({"account": deleting_view(&status)}),
        }),
    }
}

/// GET /api/me: whether the account is in use or being erased.
pub async fn status(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let body = match erase::erase_status(&app.ctx.store, user_id).await? {
        Some(status) => deleting_view(&status),
        None => json!({"status": "active"}),
    };
    let mut body = body;
    body["user_id"] = json!(user_id);
    Ok(Reply::ok(body))
}

/// GET /api/me/export: one page of everything stored about the user; follow `next_cursor`.
pub async fn export(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let limit = export_limit(call.query("limit").as_deref())?;
    let cursor = call.query("cursor").filter(|c| !c.is_empty());
    let page = export::export_page(
        &app.ctx.store,
        &app.ctx.config.cursor_secret,
        user_id,
        limit as i32,
        cursor.as_deref(),
    )
    .await?;
    Ok(Reply::ok(json!({
        "user_id": user_id,
        "items": page.items,
        "next_cursor": page.next_cursor,
    })))
}

/// DELETE /api/me: erases the account; 200 when done, 202 while it continues in the background.
pub async fn erase(app: &App, call: &Call<'_>) -> Result<Reply, ApiError> {
    let user_id = call.user()?;
    let outcome = erase::request_erase(
        &app.ctx.store,
        &app.ctx.queues,
        app.ctx.config.erase,
        user_id,
        call.now,
    )
    .await?;
    Ok(match outcome {
        EraseOutcome::Erased { items_deleted } => Reply::ok(json!({
            "status": "deleted",
            "items_deleted": items_deleted,
        })),
        EraseOutcome::Erasing(status) => Reply::with(StatusCode::ACCEPTED, deleting_view(&status)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_limits_default_and_are_bounded() {
        assert_eq!(export_limit(None).unwrap(), DEFAULT_EXPORT_LIMIT);
        assert_eq!(export_limit(Some("1")).unwrap(), 1);
        assert_eq!(export_limit(Some("1000")).unwrap(), 1000);
        for bad in ["0", "1001", "-5", "all", ""] {
            match export_limit(Some(bad)) {
                Err(ApiError::BadRequest { code, .. }) => assert_eq!(code, "invalid_limit"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_forged_cursor_is_a_bad_request_and_store_failures_hide_details() {
        let e = ApiError::from(AccountError::InvalidCursor);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = ApiError::from(AccountError::Store(
            karaoke_shared::store::StoreError::Dynamo("table xyz".into()),
        ));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.body()["error"]["message"], "internal error");
    }
}
