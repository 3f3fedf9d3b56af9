//! What a store operation can fail with. The first group are answers the
//! client caused (4xx); `Unavailable` is a database that cannot serve now
//! (503, worth a retry); `Internal` is a bug or corruption (500, logged).

use barista_domain::{Invalid, InvalidTransition, ItemId};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("the slug is taken")]
    SlugTaken,
    #[error("not enough stock of {item}")]
    OutOfStock { item: ItemId },
    /// Lines naming items that are not on the menu now, or not available.
    #[error("{0}")]
    ItemUnavailable(Invalid),
    /// A menu change that conflicts with the rest of the menu: a group that
    /// does not exist, a modifier id another group has, a group items offer.
    #[error("{0}")]
    MenuConflict(Invalid),
    /// The shop takes no orders now: closed, or paused by its staff.
    #[error("{}", .0.refusal())]
    Closed(Box<barista_domain::Ordering>),
    /// The operator suspended the shop: only the admin routes reach it.
    #[error("the shop is suspended")]
    Suspended,
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("the idempotency key was used with a different request")]
    IdempotencyKeyReused,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("internal store error: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match e.sqlite_error_code() {
            Some(
                DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure | CannotOpen | ReadOnly,
            ) => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Internal(e.to_string()),
        }
    }
}
