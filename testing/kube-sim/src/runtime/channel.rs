//! The Kubernetes remote-command WebSocket channel protocol (`*.channel.k8s.io`): every binary
//! message starts with a channel byte — 0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 resize —
//! and v5 adds 255 (close a stream: `[255, channel]`). v4 and v5 put a JSON `Status` on the
//! error channel, with the exit code as `reason: NonZeroExitCode` and a cause `ExitCode`;
//! v1–v3 put a plain-text error there.

use serde_json::json;

/// Channel bytes.
pub const STDIN: u8 = 0;
/// Standard output (and the TTY's output).
pub const STDOUT: u8 = 1;
/// Standard error.
pub const STDERR: u8 = 2;
/// Error / final status.
pub const ERROR: u8 = 3;
/// Terminal resize (`{"Width":…,"Height":…}`).
pub const RESIZE: u8 = 4;
/// v5: close the stream named by the next byte.
pub const CLOSE: u8 = 255;

/// Subprotocols in order of preference (the server picks the first the client offers).
pub const PROTOCOLS: [&str; 5] = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

/// The negotiated protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// v5: v4 plus stream close.
    V5,
    /// v4: JSON Status on the error channel.
    V4,
    /// v1–v3: plain text on the error channel.
    Legacy,
}

impl Protocol {
    /// The protocol for a negotiated subprotocol name.
    pub fn from_name(name: Option<&str>) -> Protocol {
        match name {
            Some("v5.channel.k8s.io") => Protocol::V5,
            Some("v4.channel.k8s.io") => Protocol::V4,
            _ => Protocol::Legacy,
        }
    }
}

/// A message on `channel`.
pub fn frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    v
}

/// The final error-channel payload for a process that exited with `code` (None: unknown, as
/// for attach — reported as success).
pub fn exit_status(proto: Protocol, command: &[String], code: Option<i64>) -> Option<Vec<u8>> {
    let code = code.unwrap_or(0);
    let message = format!(
        "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
        command.join(" ")
    );
    match proto {
        Protocol::Legacy if code == 0 => None,
        Protocol::Legacy => Some(message.into_bytes()),
        _ if code == 0 => Some(
            json!({"metadata": {}, "status": "Success"})
                .to_string()
                .into_bytes(),
        ),
        _ => Some(
            json!({
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
            })
            .to_string()
            .into_bytes(),
        ),
    }
}

/// The error-channel payload for a failure that is not an exit code (container gone …).
pub fn failure(proto: Protocol, message: &str) -> Vec<u8> {
    match proto {
        Protocol::Legacy => message.as_bytes().to_vec(),
        _ => json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500})
            .to_string()
            .into_bytes(),
    }
}

/// `(width, height)` of a resize message's JSON.
pub fn resize(data: &[u8]) -> Option<(u16, u16)> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let w = v.get("Width")?.as_u64()?;
    let h = v.get("Height")?.as_u64()?;
    Some((u16::try_from(w).ok()?, u16::try_from(h).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_the_exit_code() {
        let cmd = vec!["sh".to_string(), "-c".into(), "exit 3".into()];
        let s: serde_json::Value =
            serde_json::from_slice(&exit_status(Protocol::V4, &cmd, Some(3)).unwrap()).unwrap();
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        let ok: serde_json::Value =
            serde_json::from_slice(&exit_status(Protocol::V5, &cmd, Some(0)).unwrap()).unwrap();
        assert_eq!(ok["status"], "Success");
        assert_eq!(exit_status(Protocol::Legacy, &cmd, Some(0)), None);
        assert_eq!(resize(br#"{"Width":80,"Height":24}"#), Some((80, 24)));
        assert_eq!(frame(STDERR, b"x"), vec![2, b'x']);
    }
}
