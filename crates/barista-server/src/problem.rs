//! The problem-code catalogue: every `code` an error response can carry, its
//! HTTP status, its title, what it means and what a client should do.
//!
//! This table is the one source for the codes: [`crate::ApiError`] takes a
//! [`Code`], the OpenAPI document lists them, the server renders each at
//! `/problems/{code}` (the problem `type` URI, so a `type` resolves to its own
//! explanation), and a test keeps `docs/api.md`'s catalogue equal to it.

use axum::http::StatusCode;

/// A problem code, as sent in the `code` field and at the end of the `type` URI.
/// Declared in the order of [`CATALOGUE`]'s rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    MalformedJson,
    MalformedRequest,
    Unauthorized,
    CsrfFailed,
    ShopSuspended,
    NotFound,
    MethodNotAllowed,
    OutOfStock,
    ItemUnavailable,
    ShopClosed,
    MenuConflict,
    InvalidTransition,
    SlugTaken,
    ProfileInProgress,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    IdempotencyKeyReused,
    RateLimited,
    HeadersTooLarge,
    Internal,
    NotImplemented,
    Overloaded,
    Unavailable,
    TooManyStreams,
}

/// One row of the catalogue.
pub struct Entry {
    pub code: Code,
    pub status: StatusCode,
    pub title: &'static str,
    /// What happened, for a client developer.
    pub meaning: &'static str,
    /// What a client should do about it.
    pub action: &'static str,
}

/// Every code, in the order the documentation lists them (by status).
pub const CATALOGUE: &[Entry] = &[
    Entry {
        code: Code::MalformedJson,
        status: StatusCode::BAD_REQUEST,
        title: "Malformed JSON",
        meaning: "The body is not JSON, or not the shape the operation expects (a missing field, a string where a number belongs).",
        action: "Fix the request; sending it again unchanged gives the same answer. `detail` names the first place the parser stopped.",
    },
    Entry {
        code: Code::MalformedRequest,
        status: StatusCode::BAD_REQUEST,
        title: "Malformed request",
        meaning: "The request is not HTTP/1.1 the server can read: a malformed request line or header, a `Content-Length` that is not one number, both `Content-Length` and `Transfer-Encoding`, or a broken chunked body. The connection is closed after this answer.",
        action: "Fix the client; sending it again unchanged gives the same answer.",
    },
    Entry {
        code: Code::Unauthorized,
        status: StatusCode::UNAUTHORIZED,
        title: "Unauthorized",
        meaning: "The operation needs a credential (`Authorization: Bearer ...`, or a browser session's cookie) and none was sent, or it is not valid here (a session past its 12 hours, or of a staff key since replaced). A staff key of another shop is refused the same way.",
        action: "Send the shop's staff key (or the admin token for admin operations). Do not retry with the same credential.",
    },
    Entry {
        code: Code::CsrfFailed,
        status: StatusCode::FORBIDDEN,
        title: "CSRF token missing or wrong",
        meaning: "A write authenticated by a browser session cookie came without the session's `X-CSRF-Token`, or with another one. Nothing was changed.",
        action: "Send the `csrf_token` of the session (from signing in, or `GET /v1/shops/{shop}/session`) as `X-CSRF-Token`. Clients with a staff key send `Authorization: Bearer` instead and need no token.",
    },
    Entry {
        code: Code::ShopSuspended,
        status: StatusCode::FORBIDDEN,
        title: "Shop suspended",
        meaning: "The operator suspended this shop: its menu, orders and board answer this until it is resumed. Nothing of it was deleted, and no order was made.",
        action: "Customers: order elsewhere for now. The shop's owner: ask the operator (an administrator resumes it with `PATCH /v1/admin/shops/{shop}`).",
    },
    Entry {
        code: Code::NotFound,
        status: StatusCode::NOT_FOUND,
        title: "Not found",
        meaning: "No such shop, menu item, order or route, or a route this replica's role does not serve (the `detail` then names the role to use). Admin routes answer 404 when the server has no admin token.",
        action: "Check the identifiers in the path. An order id of another shop is not found either.",
    },
    Entry {
        code: Code::MethodNotAllowed,
        status: StatusCode::METHOD_NOT_ALLOWED,
        title: "Method not allowed",
        meaning: "The path exists, but not with this HTTP method.",
        action: "Use a method the API reference lists for this path.",
    },
    Entry {
        code: Code::OutOfStock,
        status: StatusCode::CONFLICT,
        title: "Out of stock",
        meaning: "A line asks for more of an item than is left. Nothing was taken from any item and no order was made.",
        action: "Read the menu again (`stock` says what is left) and order less, or something else.",
    },
    Entry {
        code: Code::ItemUnavailable,
        status: StatusCode::CONFLICT,
        title: "Item unavailable",
        meaning: "A line names an item that is not on the shop's menu now, or is not available. `errors` names each such line. Nothing was taken and no order was made.",
        action: "Read the menu again (it changed since the client last read it) and order what it offers.",
    },
    Entry {
        code: Code::ShopClosed,
        status: StatusCode::CONFLICT,
        title: "Shop not taking orders",
        meaning: "The shop is outside its opening hours, or its staff paused ordering. `ordering` says which (`reason`) and when it takes orders again (`opens_at`, absent for a pause until resumed); `Retry-After` gives the seconds to then. No order was made.",
        action: "Tell the customer when the shop opens (the menu's `ordering` says the same), and order then.",
    },
    Entry {
        code: Code::MenuConflict,
        status: StatusCode::CONFLICT,
        title: "Conflicts with the menu",
        meaning: "The change does not fit the rest of the menu as it is now: an item names a modifier group the shop does not have, a group's modifier id is another group's, or a group to remove is offered by items. `errors` names each. Nothing changed.",
        action: "Read the menu, then create the group first, choose another modifier id, or take the group off those items first.",
    },
    Entry {
        code: Code::InvalidTransition,
        status: StatusCode::CONFLICT,
        title: "Invalid status change",
        meaning: "The order's status does not allow this move (for example `collected` to `ready`, or anything after `cancelled`); another barista may have moved it first.",
        action: "Read the order to see its status now; do not retry the same move.",
    },
    Entry {
        code: Code::SlugTaken,
        status: StatusCode::CONFLICT,
        title: "Slug taken",
        meaning: "A shop with this slug exists already.",
        action: "Choose another slug.",
    },
    Entry {
        code: Code::ProfileInProgress,
        status: StatusCode::CONFLICT,
        title: "Profile in progress",
        meaning: "A CPU profile of this replica is being taken (operations listener only); one runs at a time.",
        action: "Wait for it to finish, then ask again.",
    },
    Entry {
        code: Code::RequestTimeout,
        status: StatusCode::REQUEST_TIMEOUT,
        title: "Request timeout",
        meaning: "The request's body did not arrive within the server's body timeout (10 seconds by default). Nothing changed.",
        action: "Send the body without pausing; retry (with the same `Idempotency-Key` for an order).",
    },
    Entry {
        code: Code::PayloadTooLarge,
        status: StatusCode::PAYLOAD_TOO_LARGE,
        title: "Payload too large",
        meaning: "The body is larger than 64 KiB.",
        action: "Send a smaller body.",
    },
    Entry {
        code: Code::UnsupportedMediaType,
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        title: "Unsupported media type",
        meaning: "An operation that takes a body was sent one without `Content-Type: application/json`.",
        action: "Send the body as JSON with `Content-Type: application/json`.",
    },
    Entry {
        code: Code::ValidationFailed,
        status: StatusCode::UNPROCESSABLE_ENTITY,
        title: "Validation failed",
        meaning: "The request is well-formed but not acceptable: a value out of its range, a name too long, the same item in two lines. `errors` lists every field at fault, as `{\"field\", \"message\"}`.",
        action: "Fix each field named in `errors`; a retry of the same request gives the same answer.",
    },
    Entry {
        code: Code::IdempotencyKeyReused,
        status: StatusCode::UNPROCESSABLE_ENTITY,
        title: "Idempotency key reused",
        meaning: "This `Idempotency-Key` was used before with a different request body in this shop.",
        action: "Use a fresh key for a new order; resend a retry with exactly the body of the first attempt.",
    },
    Entry {
        code: Code::RateLimited,
        status: StatusCode::TOO_MANY_REQUESTS,
        title: "Rate limited",
        meaning: "The shop is over its request budget on this replica.",
        action: "Wait the `Retry-After` seconds, then retry.",
    },
    Entry {
        code: Code::HeadersTooLarge,
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        title: "Request header fields too large",
        meaning: "The request's head is larger than 8 KiB or has more than 64 header fields. The connection is closed after this answer.",
        action: "Send fewer or shorter headers.",
    },
    Entry {
        code: Code::Internal,
        status: StatusCode::INTERNAL_SERVER_ERROR,
        title: "Internal error",
        meaning: "A bug or a damaged database; the cause is in the server's log, under the response's `x-request-id`.",
        action: "Report it with the `x-request-id`. A retry with the same `Idempotency-Key` is safe.",
    },
    Entry {
        code: Code::NotImplemented,
        status: StatusCode::NOT_IMPLEMENTED,
        title: "Not implemented",
        meaning: "The request's body uses a transfer coding other than `chunked`, or its method is none this server knows (GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE, QUERY). The connection is closed after this answer.",
        action: "Send the body with `Content-Length` or `Transfer-Encoding: chunked`, with a method the API reference lists for the path.",
    },
    Entry {
        code: Code::Overloaded,
        status: StatusCode::SERVICE_UNAVAILABLE,
        title: "Overloaded",
        meaning: "The replica is at capacity and shed the request before doing any work. Nothing changed.",
        action: "Retry after `Retry-After` seconds, with backoff; another replica may have room.",
    },
    Entry {
        code: Code::Unavailable,
        status: StatusCode::SERVICE_UNAVAILABLE,
        title: "Unavailable",
        meaning: "The database cannot serve now, or the replica is shutting down. A write that got this answer was not acknowledged.",
        action: "Retry after `Retry-After` seconds; for an order, resend it with the same `Idempotency-Key` so it is made at most once.",
    },
    Entry {
        code: Code::TooManyStreams,
        status: StatusCode::SERVICE_UNAVAILABLE,
        title: "Too many streams",
        meaning: "The replica holds as many event streams as it allows, in all or for this shop (`--max-streams`, `--max-streams-per-shop`).",
        action: "Retry after `Retry-After` seconds, or poll the order instead; close streams you no longer read.",
    },
];

impl Code {
    /// The catalogue's row for this code.
    pub fn entry(self) -> &'static Entry {
        // The variants are declared in the catalogue's order (a test checks it).
        &CATALOGUE[self as usize]
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::MalformedJson => "malformed_json",
            Code::MalformedRequest => "malformed_request",
            Code::Unauthorized => "unauthorized",
            Code::CsrfFailed => "csrf_failed",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::OutOfStock => "out_of_stock",
            Code::ItemUnavailable => "item_unavailable",
            Code::ShopClosed => "shop_closed",
            Code::ShopSuspended => "shop_suspended",
            Code::MenuConflict => "menu_conflict",
            Code::InvalidTransition => "invalid_transition",
            Code::SlugTaken => "slug_taken",
            Code::ProfileInProgress => "profile_in_progress",
            Code::RequestTimeout => "request_timeout",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::ValidationFailed => "validation_failed",
            Code::IdempotencyKeyReused => "idempotency_key_reused",
            Code::RateLimited => "rate_limited",
            Code::HeadersTooLarge => "headers_too_large",
            Code::Internal => "internal",
            Code::NotImplemented => "not_implemented",
            Code::Overloaded => "overloaded",
            Code::Unavailable => "unavailable",
            Code::TooManyStreams => "too_many_streams",
        }
    }

    pub fn parse(text: &str) -> Option<Code> {
        CATALOGUE
            .iter()
            .map(|e| e.code)
            .find(|c| c.as_str() == text)
    }

    pub fn status(self) -> StatusCode {
        self.entry().status
    }

    /// The problem's `type`: a URI reference the server itself answers.
    pub fn type_uri(self) -> String {
        format!("/problems/{}", self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_exactly_one_row_and_round_trips() {
        assert_eq!(CATALOGUE.len(), Code::TooManyStreams as usize + 1);
        for (i, entry) in CATALOGUE.iter().enumerate() {
            assert_eq!(entry.code as usize, i, "{} is out of order", entry.code);
            assert_eq!(Code::parse(entry.code.as_str()), Some(entry.code));
            assert!(entry.status.is_client_error() || entry.status.is_server_error());
        }
        assert_eq!(Code::parse("nope"), None);
    }
}
