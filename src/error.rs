//! Errors: one type, a status code and a message that says what to do.
//!
//! Article: 本地调用VS远程调用 › 远程过程调用带来的新问题. A local call to
//! `Multiply` cannot fail in new ways; a remote one can fail in many: the
//! server is gone, the call id is unknown, the bytes are bad, the deadline
//! passed. The one idea to take away: **every failure is a value with a
//! machine-readable status and a human-readable message**, and the status
//! says *whose* problem it is (the caller's arguments, the server's
//! resources, the network) so the caller can decide whether to retry.
//!
//! The status numbers are gRPC's (`grpc/status.h`), so a reader who learns
//! them here can read a gRPC error in production. They travel on the wire as
//! one byte in every response (see `docs/protocol.md`).

use std::fmt;

/// What kind of failure an [`RpcError`] is. The numbers are gRPC's codes and
/// are the byte sent on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    /// Not an error: the call succeeded. Only ever seen on the wire.
    Ok = 0,
    /// The caller gave up on the call (e.g. the client was closed).
    Cancelled = 1,
    /// An error that fits no other status (e.g. an unknown status byte).
    Unknown = 2,
    /// The arguments (or the frame carrying them) could not be decoded or are
    /// not acceptable. Retrying the same bytes will fail the same way.
    InvalidArgument = 3,
    /// The call's deadline passed before an answer came back.
    DeadlineExceeded = 4,
    /// A named thing the call needs does not exist.
    NotFound = 5,
    /// The caller is known but not allowed to make this call.
    PermissionDenied = 7,
    /// A limit was hit: a full queue, too many connections, a frame too big.
    /// Retrying later, or elsewhere, may work.
    ResourceExhausted = 8,
    /// The server has no method with this call id (or does not speak this
    /// protocol version or codec).
    Unimplemented = 12,
    /// The server broke its own rules: a handler panicked, a response was
    /// malformed. A bug to report, not something the caller did.
    Internal = 13,
    /// The peer cannot be reached or the connection broke. Usually safe to
    /// retry, on this server later or on another one.
    Unavailable = 14,
    /// Bytes were damaged on the way: a frame's checksum did not match
    /// (see [`crate::checksum`]). The connection is closed; a retry on a new
    /// one is safe for idempotent calls.
    DataLoss = 15,
    /// The caller did not prove who it is.
    Unauthenticated = 16,
}

impl Status {
    /// The status for a wire byte. Bytes minirpc does not know become
    /// [`Status::Unknown`] rather than an error, so a newer server can add
    /// codes without breaking older clients.
    pub fn from_code(code: u8) -> Status {
        match code {
            0 => Status::Ok,
            1 => Status::Cancelled,
            3 => Status::InvalidArgument,
            4 => Status::DeadlineExceeded,
            5 => Status::NotFound,
            7 => Status::PermissionDenied,
            8 => Status::ResourceExhausted,
            12 => Status::Unimplemented,
            13 => Status::Internal,
            14 => Status::Unavailable,
            15 => Status::DataLoss,
            16 => Status::Unauthenticated,
            _ => Status::Unknown,
        }
    }

    /// The wire byte for this status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The name gRPC uses for this status, e.g. `"DEADLINE_EXCEEDED"`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Cancelled => "CANCELLED",
            Status::Unknown => "UNKNOWN",
            Status::InvalidArgument => "INVALID_ARGUMENT",
            Status::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Status::NotFound => "NOT_FOUND",
            Status::PermissionDenied => "PERMISSION_DENIED",
            Status::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Status::Unimplemented => "UNIMPLEMENTED",
            Status::Internal => "INTERNAL",
            Status::Unavailable => "UNAVAILABLE",
            Status::DataLoss => "DATA_LOSS",
            Status::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The one error type of minirpc: a [`Status`] and a message.
///
/// A handler's error reaches the caller with its status and message intact,
/// so a server can say `RpcError::new(Status::NotFound, "no user 42")` and
/// the client sees exactly that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    /// What kind of failure this is.
    pub status: Status,
    /// What happened and, where it can, what to do about it.
    pub message: String,
    /// When the server said to try again (a rate limit's refusal); it
    /// travels as the `retry-after-ms` metadata of the error response
    /// (`docs/protocol.md` §5). See [`RpcError::retry_after`].
    retry_after: Option<std::time::Duration>,
}

impl RpcError {
    /// An error with the given status and message.
    pub fn new(status: Status, message: impl Into<String>) -> RpcError {
        RpcError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// This error, saying the caller may try again after `d` (a rate
    /// limit's refusal). The server sends it as `retry-after-ms`.
    pub fn with_retry_after(mut self, d: std::time::Duration) -> RpcError {
        self.retry_after = Some(d);
        self
    }

    /// How long the server asked the caller to wait before trying again,
    /// if it said (a call refused by a rate limit does, see
    /// [`crate::flow`]). `Duration::MAX` means "not with this limit".
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }

    /// Shorthand for [`Status::InvalidArgument`].
    pub fn invalid_argument(message: impl Into<String>) -> RpcError {
        RpcError::new(Status::InvalidArgument, message)
    }

    /// Shorthand for [`Status::Internal`].
    pub fn internal(message: impl Into<String>) -> RpcError {
        RpcError::new(Status::Internal, message)
    }

    /// Shorthand for [`Status::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> RpcError {
        RpcError::new(Status::Unavailable, message)
    }

    /// Shorthand for [`Status::DeadlineExceeded`].
    pub fn deadline_exceeded(message: impl Into<String>) -> RpcError {
        RpcError::new(Status::DeadlineExceeded, message)
    }

    /// Shorthand for [`Status::ResourceExhausted`].
    pub fn resource_exhausted(message: impl Into<String>) -> RpcError {
        RpcError::new(Status::ResourceExhausted, message)
    }

    /// An I/O error from the connection, as [`Status::Unavailable`] with what
    /// we were doing when it happened.
    pub fn from_io(context: &str, err: &std::io::Error) -> RpcError {
        RpcError::unavailable(format!("{context}: {err}"))
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `UNAVAILABLE: connection to 127.0.0.1:4000 closed by the server`
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for RpcError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_wire_byte() {
        let all = [
            Status::Ok,
            Status::Cancelled,
            Status::Unknown,
            Status::InvalidArgument,
            Status::DeadlineExceeded,
            Status::NotFound,
            Status::PermissionDenied,
            Status::ResourceExhausted,
            Status::Unimplemented,
            Status::Internal,
            Status::Unavailable,
            Status::DataLoss,
            Status::Unauthenticated,
        ];
        for s in all {
            assert_eq!(Status::from_code(s.code()), s);
        }
        assert_eq!(Status::DeadlineExceeded.code(), 4);
        assert_eq!(Status::Unauthenticated.code(), 16);
    }

    #[test]
    fn unknown_status_bytes_become_unknown() {
        assert_eq!(Status::from_code(6), Status::Unknown);
        assert_eq!(Status::from_code(200), Status::Unknown);
    }

    #[test]
    fn display_shows_status_name_and_message() {
        let e = RpcError::new(Status::NotFound, "no user 42");
        assert_eq!(e.to_string(), "NOT_FOUND: no user 42");
    }
}
