//! A command's output: every line as a tracing event under the node's name,
//! and the readiness line, if one is awaited.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::Notify;

/// Longest line forwarded as one tracing event; longer lines are split.
pub(super) const MAX_LINE: usize = 16 * 1024;

#[derive(Copy, Clone, Debug)]
pub(super) enum Stream {
    Stdout,
    Stderr,
}

/// Forwards the lines of one output stream as tracing events until it
/// closes, and notifies `ready` on the first line containing `pattern`.
pub(super) async fn pump<R: AsyncRead + Unpin>(
    stream: Option<R>,
    node: &str,
    kind: Stream,
    pattern: Option<&str>,
    ready: &Notify,
) {
    let Some(stream) = stream else { return };
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    let mut pattern = pattern;
    loop {
        match read_line_capped(&mut reader, &mut buf).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::debug!(target: "supervisor::command", node, error = %e, "reading the process output failed");
                return;
            }
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        let line = String::from_utf8_lossy(&buf);
        match kind {
            Stream::Stdout => {
                tracing::info!(target: "supervisor::command", node, stream = "stdout", "{line}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "supervisor::command", node, stream = "stderr", "{line}")
            }
        }
        if let Some(p) = pattern {
            if line.contains(p) {
                ready.notify_one();
                pattern = None;
            }
        }
        buf.clear();
    }
}

/// Reads up to and including the next `\n`, or `MAX_LINE` bytes, or what is
/// left at end of stream, into `buf`. `Ok(false)` at end of stream with
/// nothing read.
async fn read_line_capped<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> io::Result<bool> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(!buf.is_empty());
        }
        let room = MAX_LINE - buf.len();
        let window = &available[..available.len().min(room)];
        if let Some(i) = window.iter().position(|&b| b == b'\n') {
            buf.extend_from_slice(&window[..=i]);
            reader.consume(i + 1);
            return Ok(true);
        }
        let n = window.len();
        buf.extend_from_slice(window);
        reader.consume(n);
        if buf.len() >= MAX_LINE {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn capped_lines() {
        let data: &[u8] = b"one\r\ntwo\nthree";
        let mut r = BufReader::new(data);
        let mut buf = Vec::new();
        let mut lines = Vec::new();
        while read_line_capped(&mut r, &mut buf).await.unwrap() {
            lines.push(String::from_utf8(std::mem::take(&mut buf)).unwrap());
        }
        assert_eq!(lines, ["one\r\n", "two\n", "three"]);

        let long = vec![b'x'; MAX_LINE + 10];
        let mut r = BufReader::new(&long[..]);
        assert!(read_line_capped(&mut r, &mut buf).await.unwrap());
        assert_eq!(buf.len(), MAX_LINE);
        buf.clear();
        assert!(read_line_capped(&mut r, &mut buf).await.unwrap());
        assert_eq!(buf.len(), 10);
        buf.clear();
        assert!(!read_line_capped(&mut r, &mut buf).await.unwrap());
    }
}
