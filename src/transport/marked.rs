//! One output stream of the remote shell, read up to the marker line that
//! ends a command: in linear time and bounded memory, however much the
//! command prints and however the bytes are cut into chunks.

use std::collections::VecDeque;

/// How much of a stream a command's result keeps, at its start and again at
/// its end (what lies between is counted, not kept), unless
/// `WPTDEPLOY_CAPTURE_BYTES` says otherwise.
pub const DEFAULT_CAPTURE: usize = 1 << 20;

/// A line longer than this is passed on in pieces of this size, so that a
/// command printing megabytes without a newline costs no more memory.
const LONGEST_LINE: usize = 64 * 1024;

/// The capture size: `WPTDEPLOY_CAPTURE_BYTES`, or [`DEFAULT_CAPTURE`].
fn capture_size() -> usize {
    static SIZE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        std::env::var("WPTDEPLOY_CAPTURE_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_CAPTURE)
    })
}

/// What a command printed on one stream: its first and last bytes, and how
/// many were dropped between them.
struct Capture {
    limit: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    dropped: u64,
}

impl Capture {
    fn new(limit: usize) -> Self {
        Capture {
            limit,
            head: Vec::new(),
            tail: VecDeque::new(),
            dropped: 0,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.head.len());
        let (into_head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(into_head);
        bytes = rest;
        if bytes.len() > self.limit {
            self.dropped += (self.tail.len() + bytes.len() - self.limit) as u64;
            self.tail.clear();
            bytes = &bytes[bytes.len() - self.limit..];
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.limit);
        self.tail.drain(..overflow);
        self.dropped += overflow as u64;
        self.tail.extend(bytes);
    }

    fn into_text(self) -> String {
        let mut bytes = self.head;
        if self.dropped > 0 {
            bytes.extend_from_slice(
                format!("\n[wptdeploy: {} bytes not kept here]\n", self.dropped).as_bytes(),
            );
        }
        bytes.extend(self.tail);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// One output stream, read up to the marker line that ends a command.
///
/// Each byte is looked at a bounded number of times: the marker is searched
/// for only in what is new (and the marker's length before it), and a line
/// is searched for its end only where no earlier search has been. Lines
/// are emitted once it is sure that their newline is not the marker's own;
/// what was emitted leaves the buffer, into the bounded [`Capture`].
pub(crate) struct MarkedStream {
    marker: Vec<u8>,
    /// Bytes not yet emitted as lines (and the marker, once it arrives).
    buf: Vec<u8>,
    /// No newline lies in `..newline_from` of `buf`.
    newline_from: usize,
    /// The marker does not start before this in `buf`.
    searched: usize,
    capture: Capture,
    /// The last line was passed on without waiting for what follows its
    /// newline, which was taken from the buffer: if the marker follows, it
    /// was the marker's own newline (not captured yet).
    pending_newline: bool,
    pub(crate) exit_code: Option<i32>,
    /// What came after the marker's line: the start of the next command's
    /// output, when commands were sent ahead.
    rest: Vec<u8>,
}

impl MarkedStream {
    /// A stream that ends at the line `marker STATUS`.
    pub(crate) fn new(marker: &str) -> Self {
        Self::with_capture(marker, capture_size())
    }

    fn with_capture(marker: &str, capture: usize) -> Self {
        MarkedStream {
            marker: format!("\n{marker} ").into_bytes(),
            buf: Vec::new(),
            newline_from: 0,
            searched: 0,
            capture: Capture::new(capture),
            pending_newline: false,
            exit_code: None,
            rest: Vec::new(),
        }
    }

    /// Takes the next bytes, calling `emit` for each complete line; once
    /// the marker's line is complete, what follows it is kept apart (see
    /// [`MarkedStream::take_rest`]).
    pub(crate) fn push(&mut self, data: &[u8], emit: &mut dyn FnMut(&str)) {
        if self.exit_code.is_some() {
            self.rest.extend_from_slice(data);
            return;
        }
        self.buf.extend_from_slice(data);
        if self.pending_newline {
            // The marker without its newline, already taken?
            let rest = &self.marker[1..];
            let n = rest.len().min(self.buf.len());
            if self.buf[..n] == rest[..n] {
                if self.buf.len() > rest.len()
                    && let Some(nl) = self.buf[rest.len()..].iter().position(|&b| b == b'\n')
                {
                    let status = String::from_utf8_lossy(&self.buf[rest.len()..rest.len() + nl]);
                    self.exit_code = Some(status.trim().parse().unwrap_or(-1));
                    self.rest = self.buf.split_off(rest.len() + nl + 1);
                    self.buf = Vec::new();
                }
                return;
            }
            self.capture.push(b"\n");
            self.pending_newline = false;
        }
        let from = self.searched;
        if let Some(at) = find(&self.buf[from..], &self.marker) {
            let pos = from + at;
            // Found again from here if its status line is not complete yet.
            self.searched = pos;
            let status_start = pos + self.marker.len();
            if let Some(nl) = self.buf[status_start..].iter().position(|&b| b == b'\n') {
                let status = String::from_utf8_lossy(&self.buf[status_start..status_start + nl]);
                self.exit_code = Some(status.trim().parse().unwrap_or(-1));
                let rest = self.buf.split_off(status_start + nl + 1);
                self.emit_lines(pos, true, emit);
                self.rest = rest;
                self.buf = Vec::new();
                return;
            }
            self.emit_lines(pos, false, emit);
            return;
        }
        // A marker may have begun in the last bytes (those that are the
        // start of one): not yet searched past them.
        let hold = (1..self.marker.len())
            .rev()
            .find(|&k| self.buf.ends_with(&self.marker[..k]))
            .unwrap_or(0);
        let safe = self.buf.len() - hold;
        self.searched = safe.max(from);
        self.emit_lines(safe, false, emit);
        // A last line whose newline may be the marker's is passed on now
        // (a command that prints a line and waits, as `tail -f` does, is
        // seen at once); its newline is captured once it proves to be one.
        let line_end = self.buf.len() - hold;
        if hold > 0 && line_end > 0 {
            emit(&String::from_utf8_lossy(&self.buf[..line_end]));
            self.capture.push(&self.buf[..line_end]);
            self.buf.drain(..=line_end);
            self.pending_newline = true;
            self.newline_from = 0;
            self.searched = 0;
        }
    }

    /// Emits the complete lines that end before `limit` (and, when
    /// `finished`, the rest up to it as a last line), moving them from the
    /// buffer into the capture.
    fn emit_lines(&mut self, limit: usize, finished: bool, emit: &mut dyn FnMut(&str)) {
        let mut emitted = 0;
        while emitted < limit {
            let scan_from = self.newline_from.max(emitted);
            let newline = self.buf[scan_from..limit].iter().position(|&b| b == b'\n');
            let end = match newline {
                Some(at) => scan_from + at,
                None if finished => limit,
                // A line too long to wait for its end: passed on in pieces.
                None if limit - emitted >= LONGEST_LINE => emitted + LONGEST_LINE,
                None => {
                    self.newline_from = limit;
                    break;
                }
            };
            emit(&String::from_utf8_lossy(&self.buf[emitted..end]));
            let next = if newline.is_some() { end + 1 } else { end };
            self.capture.push(&self.buf[emitted..next]);
            emitted = next;
        }
        self.buf.drain(..emitted);
        self.newline_from = self.newline_from.saturating_sub(emitted);
        self.searched = self.searched.saturating_sub(emitted);
    }

    /// The bytes that came after the marker's line (the next command's,
    /// when several were sent at once).
    pub(crate) fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.rest)
    }

    /// What the command printed on this stream (head and tail when long).
    pub(crate) fn into_text(self) -> String {
        self.capture.into_text()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&str]) -> (Vec<String>, String, Option<i32>) {
        let mut stream = MarkedStream::new("__M");
        let mut lines = Vec::new();
        for chunk in chunks {
            stream.push(chunk.as_bytes(), &mut |l| lines.push(l.to_owned()));
        }
        let code = stream.exit_code;
        (lines, stream.into_text(), code)
    }

    #[test]
    fn output_ending_in_newline_keeps_it_and_no_phantom_line_appears() {
        let (lines, text, code) = feed(&["abc\n", "\n", "__M 0\n"]);
        assert_eq!(lines, ["abc"]);
        assert_eq!(text, "abc\n");
        assert_eq!(code, Some(0));
    }

    #[test]
    fn output_without_final_newline_is_complete() {
        let (lines, text, code) = feed(&["ab", "c\n__M 7", "\n"]);
        assert_eq!(lines, ["abc"]);
        assert_eq!(text, "abc");
        assert_eq!(code, Some(7));
    }

    /// `tail -f` prints a line and waits: the line is passed on at once,
    /// not when more output (or the marker) comes.
    #[test]
    fn a_line_followed_by_silence_is_passed_on_at_once() {
        let mut stream = MarkedStream::new("__M");
        let mut lines = Vec::new();
        stream.push(b"last line of the log\n", &mut |l| lines.push(l.to_owned()));
        assert_eq!(lines, ["last line of the log"]);
        stream.push(b"a new line\n", &mut |l| lines.push(l.to_owned()));
        assert_eq!(lines, ["last line of the log", "a new line"]);
        stream.push(b"\n__M 0\n", &mut |l| lines.push(l.to_owned()));
        assert_eq!(stream.exit_code, Some(0));
        assert_eq!(lines.len(), 2);
        assert_eq!(stream.into_text(), "last line of the log\na new line\n");
        // The newline passed on was the marker's own: no newline is added.
        let (lines, text, code) = feed(&["abc\n", "__M", " 3\n"]);
        assert_eq!(
            (lines, text, code),
            (vec!["abc".to_owned()], "abc".to_owned(), Some(3))
        );
    }

    /// Two commands sent at once: the bytes after the first's marker,
    /// however the chunks fall, are the second's, whole.
    #[test]
    fn what_follows_the_marker_is_handed_over_to_the_next_command() {
        let both = "one\n\n__M 0\ntwo\nthree\n\n__M 4\n";
        for cut in 0..=both.len() {
            let mut first = MarkedStream::new("__M");
            let mut lines = Vec::new();
            let mut second = MarkedStream::new("__M");
            for chunk in [&both[..cut], &both[cut..]] {
                if first.exit_code.is_some() {
                    second.push(chunk.as_bytes(), &mut |l| lines.push(l.to_owned()));
                    continue;
                }
                first.push(chunk.as_bytes(), &mut |l| lines.push(l.to_owned()));
                if first.exit_code.is_some() {
                    let rest = first.take_rest();
                    second.push(&rest, &mut |l| lines.push(l.to_owned()));
                }
            }
            assert_eq!(first.exit_code, Some(0), "cut at {cut}");
            assert_eq!(second.exit_code, Some(4), "cut at {cut}");
            assert_eq!(lines, ["one", "two", "three"], "cut at {cut}");
            assert_eq!(first.into_text(), "one\n", "cut at {cut}");
            assert_eq!(second.into_text(), "two\nthree\n", "cut at {cut}");
        }
    }

    #[test]
    fn empty_output_and_inner_blank_lines() {
        assert_eq!(feed(&["\n__M 0\n"]), (vec![], String::new(), Some(0)));
        let (lines, text, _) = feed(&["a\n\n", "b\n\n__M 1\n"]);
        assert_eq!(lines, ["a", "", "b"]);
        assert_eq!(text, "a\n\nb\n");
    }

    #[test]
    fn a_marker_split_across_chunks_is_found_and_its_newline_is_no_line() {
        let (lines, text, code) = feed(&["out\n\n__", "M 12", "3\n"]);
        assert_eq!(lines, ["out"]);
        assert_eq!(text, "out\n");
        assert_eq!(code, Some(123));
        let (lines, _, _) = feed(&["a\nb", "\n", "\n", "_", "_M 0\n"]);
        assert_eq!(lines, ["a", "b"]);
    }

    /// 16 MB in 4 KiB chunks with no newline among them: passed on in
    /// pieces, every byte once, and the buffer never holds more than a
    /// piece (what it costs in time is measured in bench/, not here).
    #[test]
    fn a_huge_line_in_many_chunks_is_passed_on_in_pieces_in_bounded_memory() {
        let chunk = vec![b'x'; 4096];
        let mut stream = MarkedStream::with_capture("__M", 1024);
        let mut lengths = Vec::new();
        let mut largest_buffer = 0;
        for _ in 0..4096 {
            stream.push(&chunk, &mut |l| lengths.push(l.len()));
            largest_buffer = largest_buffer.max(stream.buf.capacity());
        }
        stream.push(b"\n__M 0\n", &mut |l| lengths.push(l.len()));
        assert_eq!(stream.exit_code, Some(0));
        assert_eq!(lengths.iter().sum::<usize>(), 4096 * 4096);
        assert!(lengths.iter().all(|&l| l <= LONGEST_LINE));
        assert!(largest_buffer < 4 * LONGEST_LINE, "{largest_buffer}");
        let text = stream.into_text();
        assert!(text.len() < 3000, "{}", text.len());
        assert!(text.contains(&format!(
            "[wptdeploy: {} bytes not kept here]",
            4096 * 4096 - 2048
        )));
    }

    #[test]
    fn long_output_keeps_its_head_and_tail_and_counts_the_rest() {
        let mut stream = MarkedStream::with_capture("__M", 10);
        let mut lines = Vec::new();
        for i in 0..100 {
            stream.push(format!("line {i:02}\n").as_bytes(), &mut |l| {
                lines.push(l.to_owned());
            });
        }
        stream.push(b"\n__M 0\n", &mut |l| lines.push(l.to_owned()));
        assert_eq!(lines.len(), 100, "every line is still shown");
        assert_eq!(
            stream.into_text(),
            "line 00\nli\n[wptdeploy: 780 bytes not kept here]\n8\nline 99\n"
        );
    }
}
